"""Typed answers of every API route (pydantic), one module per group: the OpenAPI
document is built from these, so it describes what is sent, and schemathesis checks the
bodies against it (see `base`)."""

from services.api.models.base import ErrorBody, ErrorDetail, Model, Problem
from services.api.models.jobs import *  # noqa: F403
from services.api.models.jobs import __all__ as _jobs_all
from services.api.models.library import *  # noqa: F403
from services.api.models.library import __all__ as _library_all
from services.api.models.ops import *  # noqa: F403
from services.api.models.ops import __all__ as _ops_all
from services.api.models.validation import *  # noqa: F403
from services.api.models.validation import __all__ as _validation_all

__all__ = ["ErrorBody", "ErrorDetail", "Model", "Problem", *_jobs_all, *_library_all, *_ops_all, *_validation_all]
