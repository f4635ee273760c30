"""Built-in Script-menu scripts (A1111's scripts/ folder): written against the same Script contract
third-party extensions use (modules/plugins/scripts.py), registered before the extensions' own."""


def builtin_scripts() -> list[type]:
    """The built-in Script classes, in A1111's menu order."""
    return []
