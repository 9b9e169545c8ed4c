"""Graph -> Graph transformations, one per module; :mod:`.pipeline` lists them in order."""
