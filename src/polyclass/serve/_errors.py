"""Request errors: a status, a sentence that names the problem and the fix, and its place."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["RequestError"]

Loc = Sequence[str | int]


class RequestError(Exception):
    """A client error, answered as ``{"error": message, "loc": [...]}`` with ``status``.

    ``loc`` is the place in the request, FastAPI style: ``["body", "inputs", 0, "data"]``
    or ``["path", "version"]``.

    Examples
    --------
    >>> err = RequestError(422, "Column 'x' expects numbers.", ["body", "inputs", 2])
    >>> err.body()
    {'error': "Column 'x' expects numbers.", 'loc': ['body', 'inputs', 2]}
    """

    def __init__(self, status: int, message: str, loc: Loc = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.loc: list[str | int] = list(loc)

    def body(self) -> dict[str, object]:
        """The JSON body of the error response."""
        return {"error": self.message, "loc": self.loc}

    def at(self, *prefix: str | int) -> RequestError:
        """The same error with ``prefix`` put before its location."""
        return RequestError(self.status, self.message, [*prefix, *self.loc])


def bad_request(message: str, *loc: str | int) -> RequestError:
    """A 400 for a body that cannot be read at all (malformed JSON, wrong top-level shape)."""
    return RequestError(400, message, loc)


def unprocessable(message: str, *loc: str | int) -> RequestError:
    """A 422 for a well-formed body whose values do not fit the model."""
    return RequestError(422, message, loc)


def not_found(message: str, *loc: str | int) -> RequestError:
    """A 404 for an unknown model name or version."""
    return RequestError(404, message, loc)


def conflict(message: str, *loc: str | int) -> RequestError:
    """A 409 for a request this server's set-up cannot honour."""
    return RequestError(409, message, loc)
