"""The user project below is run by its own pytest (as a user's project would be), never
collected by this suite."""

collect_ignore = ["user_project"]
