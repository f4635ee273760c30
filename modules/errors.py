"""Error kinds the engine raises, by what they are, so the edges (API, UI) can answer each
for what it is: a bad request is the client's to fix (4xx); a valid request this machine cannot
serve is the server's (5xx), with the reason either way."""


class UnsupportedHere(RuntimeError):
    """A valid request that this server cannot carry out as it runs (e.g. a GPU-only option on a
    machine without a GPU): the API answers 501 with the message."""
