# The file the model's python runs. Any Python 3 can parse it, so a runtime that cannot import on this
# interpreter is reported as envrepro's failure, not the model's.
import json
import os
import platform
import sys
import traceback

# Appended, not prepended: the model's own pins of anything here win over envrepro's copies.
sys.path.append(os.path.dirname(os.path.abspath(__file__)))
try:
    from envrepro_runtime.bytecode import record_compiles

    record_compiles()  # what has no bytecode yet gets it after this run (envrepro_runtime.bytecode)
    from envrepro_runtime.worker import main
except BaseException as exc:
    if "-v" in sys.argv:
        traceback.print_exc()
    what = "{}: {}".format(type(exc).__name__, exc)
    if sys.argv[1:3] == ["--report", "json"]:  # the host reads it (envrepro/launch.py puts it first)
        sys.stderr.write("envrepro-runtime-report: " + json.dumps({
            "kind": "runtime", "stage": "start", "python": platform.python_version(), "message": what}) + "\n")
    else:
        sys.stderr.write("envrepro: error: envrepro's runtime failed in the model's environment (Python {}): {}\n"
                         .format(platform.python_version(), what))
    sys.exit(1)
sys.exit(main())
