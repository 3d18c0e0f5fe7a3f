"""envrepro's built-in flavor plugins. Registered through the ``envrepro`` entry-point group, like any plugin."""
