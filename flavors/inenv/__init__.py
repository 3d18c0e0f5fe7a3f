"""The built-in flavors' loaders, run *inside* a model's environment by envrepro's runtime.

Same contract as ``envrepro_runtime`` (Python 3.6 syntax, standard library plus the flavor's own library,
never the host package): see runtime/__init__.py. Each module defines ``load(model_dir, conf, pyfunc_conf)``.
"""
