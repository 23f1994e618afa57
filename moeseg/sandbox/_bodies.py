"""The documented error texts, word for word (reference/ in the project docs), as the
(code, message) pairs ``_answers.error`` puts in the body of each API family. Texts the
documents do not spell out (marked "sandbox:") are plain messages of the sandbox's own.
"""

from __future__ import annotations

__all__ = ["COHORT", "LEGACY_SERVER_ERROR", "V2", "V3"]

LEGACY_SERVER_ERROR = ("", "Internal Server Error. Contact MoEngage Team")


class V3:
    """(code, message) pairs of the documented v3 errors."""

    INVALID_FORMAT = (
        "Invalid request",
        "Invalid request format. Please check the documentation to ensure that the request has "
        "been formed correctly.",
    )
    INVALID_NAME = (
        "Invalid Request",
        "Invalid request. Please ensure that the filters are correct and the custom-segment "
        "name doesn't contain HTML characters/only whitespaces.",
    )
    CLIENT_NOT_FOUND = (
        "Request Error",
        "MoEngage Client not found. Please check values for headers - MOE-APPKEY or MOE-DBNAME",
    )
    SECRET_MISMATCH = (
        "Authentication required",
        "APP_SECRET key mismatch. Please login to the dashboard to verify key",
    )
    APP_KEY_MISMATCH = ("Authentication required", "Invalid APP_KEY used in Authentication Header")
    INVALID_ID = ("Invalid request", "Invalid bson object-id passed in the request")
    FORBIDDEN = (
        "Forbidden operation",
        "Update isn't supported for file-segments, internally created custom-segments, "
        "custom-segments imported from Analyze and archived custom-segments.",
    )
    CYCLIC = ("Cyclic Entity", "Circular reference detected in the custom segment definition.")
    QUERY_TOO_LONG = (
        "Query length limit exceeded",
        "The query is too large to execute. Please reduce the filters.",
    )
    ACTIVE_LIMIT = ("Too Many Requests", "Total active segments limit breached. Request rejected!")
    SERVER_ERROR = (
        "Internal Server Error",
        "An unexpected error was encountered while processing this request. Please contact "
        "MoEngage Team",
    )

    @staticmethod
    def not_found(segment_id: str) -> tuple[str, str]:
        return ("Entity Not Found", f"Custom segment not found with the given id: {segment_id}")

    @staticmethod
    def name_exists(name: str) -> tuple[str, str]:
        return (
            "Resource not created",
            f"Another custom-segment already exists with the same name: {name}. Please change "
            "the custom-segment name.",
        )

    @staticmethod
    def filters_exist(existing_name: str) -> tuple[str, str]:
        return (
            "Resource not created",
            f"Another custom-segment already exists containing the given filters: "
            f"{existing_name}. Please reuse the same or update the filters",
        )

    @staticmethod
    def too_deep(limit: int) -> tuple[str, str]:
        return (
            "Query has too many nesting levels",
            f"The query has more than {limit} levels of nesting. Please reduce the segment "
            "nesting.",
        )

    @staticmethod
    def too_many_segments(limit: int) -> tuple[str, str]:
        return (
            "Too many segments in a query",
            f"The query has more than {limit} custom segments. Please reduce the custom segments.",
        )

    @staticmethod
    def rate_limited(limit: int, seconds: float) -> tuple[str, str]:
        # The minutes may be fractional when the sandbox's windows are scaled.
        return (
            "Too Many Requests",
            f"API rate limit breached. Current limit: {limit}/{seconds / 60:g} mins",
        )


class V2:
    """(title, description) pairs of the v2 errors."""

    AUTH = (
        "Authentication required",
        "Invalid Workspace ID or API key used in the Authorization header",
    )
    # sandbox: the v2 documents give no body for an unknown MOE-DBNAME; the v3 message is reused.
    CLIENT_NOT_FOUND = (
        "Invalid Request",
        "MoEngage Client not found. Please check values for headers - MOE-APPKEY or MOE-DBNAME",
    )
    RATE_LIMIT = (
        "Too Many Requests",
        "File segment operations limit breached. Please retry after some time.",
    )
    # sandbox: documented for v3 only; the v2 shape carries the same message.
    ACTIVE_LIMIT = ("Too Many Requests", "Total active segments limit breached. Request rejected!")
    INVALID_FORMAT = ("Invalid Request", "Invalid request format: the body must be a JSON object")
    SERVER_ERROR = ("Internal Server Error", "")  # documented as a title alone

    @staticmethod
    def missing(field: str) -> tuple[str, str]:
        return ("Invalid Request", f"Mandatory field missing in the request: {field}")

    @staticmethod
    def invalid(description: str) -> tuple[str, str]:
        return ("Invalid Request", description)

    @staticmethod
    def not_found(name: str) -> tuple[str, str]:
        return ("Entity Not Found", f"Segment not found with the given name: {name}")

    @staticmethod
    def name_exists(name: str) -> tuple[str, str]:
        return ("Resource not created", f"Name already exists : {name}")


class COHORT:
    """(type, message) pairs of the documented Cohort Sync errors."""

    MALFORMED = (
        "Malformed JSON",
        "Could not decode the request body. The JSON was incorrect or not encoded as UTF-8.",
    )
    SECRET_MISMATCH = (
        "Authentication required",
        "App Secret key mismatch. Please login to the dashboard to verify key",
    )
    NO_AUTH_HEADER = ("Authentication required", "Authentication Header Required")
    APP_KEY_MISMATCH = ("Authentication Mismatch", "App key mismatch in params and authentication")
    SUSPENDED = {
        "BlockedClient": "Your account is suspended. Please contact MoEngage team.",
        "Account Suspended": "Your account is suspended. Please contact MoEngage team.",
        "Account Temporarily Suspended": (
            "Your account is temporarily suspended. Please contact MoEngage team."
        ),
    }
    TOO_LARGE = ("Payload too large", "Payload can not exceed 128KB")
    MEDIA_TYPE = ("Unsupported media type", "Content type is not supported")
    RATE_LIMIT = (
        "Rate Limits Exceeded",
        "Rate limits for customers exceeded. Please Try After Some Time",
    )
    SERVER_ERROR = (
        "Server Error",
        "An unexpected error was encountered while processing this request. Please contact "
        "MoEngage Team",
    )
    SUCCESS = "Your request has been accepted and will be processed soon."

    @staticmethod
    def missing(attribute: str) -> tuple[str, str]:
        return ("MissingAttributeError", f"{attribute} is not found in the payload")

    @staticmethod
    def invalid(message: str) -> tuple[str, str]:
        return ("InvalidAttributeError", message)
