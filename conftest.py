pytest_plugins = ["junction_devtools.testing"]
