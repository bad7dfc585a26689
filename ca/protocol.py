"""Fabric CA's REST vocabulary: error codes, the response envelope, typed errors.

Codes and the generic remote messages are Fabric CA's (``lib/caerrors``), so clients
that branch on them (the Node SDK surfaces ``errors[0].code``) behave as against Fabric CA.
"""

from __future__ import annotations

from typing import Any

from ca.errors import CaRequestError

FABRIC_CA_VERSION = "1.5.7"

ERR_UNKNOWN = 0
ERR_METHOD_NOT_ALLOWED = 1
ERR_NO_AUTH_HDR = 2
ERR_READING_REQ_BODY = 3
ERR_EMPTY_REQ_BODY = 4
ERR_BAD_REQ_BODY = 5
ERR_NOT_REVOKER = 7
ERR_REV_CERT_NOT_FOUND = 8
ERR_CERT_WRONG_OWNER = 9
ERR_REVOKE_ID_NOT_FOUND = 10
ERR_NO_CERTS_REVOKED = 14
ERR_MISSING_REVOKE_ARGS = 15
ERR_CA_NOT_FOUND = 19
ERR_AUTHENTICATION_FAILURE = 20
ERR_NO_USER_PASS = 21
ERR_ENROLL_DISABLED = 22
ERR_INVALID_USER = 23
ERR_INVALID_PASS = 24
ERR_INVALID_TOKEN = 25
ERR_UNTRUSTED_CERTIFICATE = 26
ERR_CERT_EXPIRED = 27
ERR_CERT_REVOKED = 28
ERR_CERT_NOT_FOUND = 30
ERR_BAD_CSR = 31
ERR_NO_GENCRL_AUTH = 35
ERR_INVALID_REVOKED_AFTER = 36
ERR_INVALID_EXPIRED_AFTER = 37
ERR_REG_ATTR_AUTH = 42
ERR_MISSING_REG_ATTR = 43
ERR_CALLER_NOT_AFFILIATED = 44
ERR_GETTING_USER = 49
ERR_REGISTRAR_INVALID_TYPE = 54
ERR_CERT_ALREADY_REVOKED = 66
ERR_AUTHORIZATION_FAILURE = 71


def http_error(status: int, code: int, message: str) -> CaRequestError:
    return CaRequestError(status, code, message)


def bad_request(message: str, code: int = ERR_BAD_REQ_BODY) -> CaRequestError:
    return CaRequestError(400, code, message)


def authentication_error(code: int, detail: str) -> CaRequestError:
    """401 with Fabric CA's generic remote message; ``detail`` stays in the server log."""
    return CaRequestError(401, ERR_AUTHENTICATION_FAILURE, "Authentication failure", detail)


def authorization_error(code: int, detail: str) -> CaRequestError:
    """403 with Fabric CA's generic remote message; ``detail`` stays in the server log."""
    return CaRequestError(403, ERR_AUTHORIZATION_FAILURE, "Authorization failure", detail)


def success(result: Any) -> dict[str, Any]:
    return {"success": True, "result": result, "errors": [], "messages": []}


def failure(error: CaRequestError) -> dict[str, Any]:
    return {
        "success": False,
        "result": None,
        "errors": [{"code": error.code, "message": error.message}],
        "messages": [],
    }
