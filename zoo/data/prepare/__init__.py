"""Prepare steps: commands that turn a dataset's official download into records the
zoo's loaders read (`python -m zoo.data.prepare.NAME --src=DIR --dst=DIR`)."""
