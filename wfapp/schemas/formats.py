"""Format checkers of state schemas: formats are assertions (a value of the wrong format is refused).

The checkers are jsonschema's (with its format-nongpl extras: RFC 3339 date-time, RFC 3986 URIs,
ISO 8601 durations, ...) except:
- `email` / `idn-email`: the email-validator library (RFC 5321/5322 syntax, no DNS look-up;
  `email` is ASCII only, `idn-email` admits internationalised addresses);
- `regex`: a regular expression RE2 can compile (the engine that runs authors' patterns).
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from jsonschema import Draft202012Validator, FormatChecker

from wfapp.schemas.regex import is_regex


def _email(instance: object, *, international: bool) -> bool:
    if not isinstance(instance, str):
        return True
    try:
        validate_email(
            instance,
            check_deliverability=False,
            allow_smtputf8=international,
            allow_quoted_local=True,
            allow_domain_literal=True,
            globally_deliverable=False,
        )
    except EmailNotValidError:
        return False
    return True


def is_email(instance: object) -> bool:
    return _email(instance, international=False)


def is_idn_email(instance: object) -> bool:
    return _email(instance, international=True)


def _checker() -> FormatChecker:
    base = Draft202012Validator.FORMAT_CHECKER
    checker = FormatChecker(formats=())
    checker.checkers = dict(base.checkers)
    checker.checkers["email"] = (is_email, ())
    checker.checkers["idn-email"] = (is_idn_email, ())
    checker.checkers["regex"] = (is_regex, ())
    return checker


FORMAT_CHECKER = _checker()
