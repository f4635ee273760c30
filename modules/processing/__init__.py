"""Request and result types, and the functions that run a request to a result."""
