"""One exception type for every mistake a user can make, so the CLI can print one line and exit 2."""


class UserError(Exception):
    """Bad input from the user (file, argument, audio content). Shown as one line, exit status 2."""
