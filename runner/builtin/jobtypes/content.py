"""The content jobs of Sailthru's job API (``content_update``, ``delete_content``) and
``list_erase``, which the docs group with them as bulk jobs on the account's library.

Their rules are the contract's (``runner/sailthru/contract_content.py``), which the sandbox
answers by too. Sailthru's pages are thin for all three: see that module's docstring for
what is documented and what is our assumption (``delete_content``'s parameter names are).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from pydantic import Field, field_validator

from runner.jobtypes import (
    CheckContext,
    FileCheck,
    JobType,
    JsonLinesFile,
    LineProblem,
    ParamProblem,
    StrictParams,
    check_local_file,
    contract_problems,
    finding_problem,
    none_done_warning,
)
from runner.placeholders import is_expression
from runner.sailthru.contract import check_payload
from runner.sailthru.contract_content import (
    DELETED_COUNT_FIELD,
    INVALID_EXPIRED_ONLY,
    INVALID_LISTS,
    LISTS_NOT_FOUND_FIELD,
    content_item_problems,
    content_key,
    lists_not_a_list_message,
)


class ContentFile(JsonLinesFile):
    """A content_update file: one content object per line, naming its item by ``id`` (the
    page's URL, or its SKU with ``key: sku``) or the legacy ``url``; an item named twice is
    updated twice, the later line winning. Fields of the content API are type-checked;
    other keys are accepted, as the API has many."""

    kind = "content"
    noun = "content item"
    duplicate_words = ("repeated item", "repeated items")

    def check_object(self, value: dict[str, Any]) -> Iterator[LineProblem]:
        for path, message in content_item_problems(value):
            yield LineProblem(path, message)

    def key(self, value: dict[str, Any]) -> str | None:
        return content_key(value)


CONTENT_FILE = ContentFile()


class ContentUpdateParams(StrictParams):
    file: str | None = Field(
        default=None,
        description="a local JSON-lines file, one content item per line, each naming its "
        "item by `id` (the page's URL; a SKU with `key: sku`) or `url`",
    )


class ContentUpdate(JobType):
    """Not safe to resubmit, for the reasons ``update`` is not: a second job takes a second
    import slot and sends a second report email, and writing the same fields is harmless
    only against itself: a field changed between the two jobs (by another feed, the
    spider, a person in the Content Library) is overwritten again by the late duplicate."""

    name = "content_update"
    description = "Create or update content items (keyed by id or url) from a JSON-lines file."
    params_model = ContentUpdateParams
    file_params = ("file",)
    required_params = ("file",)
    import_slot = True  # an upload the account processes like an import

    def check(self, params: dict[str, Any], ctx: CheckContext) -> Iterator[ParamProblem]:
        yield from contract_problems(self.name, params)
        yield from check_local_file(params, "file", ctx)

    def file_checks(self, params: Mapping[str, Any]) -> dict[str, FileCheck]:
        return {"file": CONTENT_FILE}


class DeleteContentParams(StrictParams):
    # The names are ours: Sailthru's page describes the options but names no parameter.
    expired_only: bool | None = Field(
        default=None,
        description="required: true deletes only expired content, false deletes ALL content "
        "(parameter name unverified: Sailthru's docs name none)",
    )
    start_date: int | str | None = Field(
        default=None,
        description="yyyymmdd: only content published on or after it (with end_date; "
        "name unverified)",
    )
    end_date: int | str | None = Field(
        default=None,
        description="yyyymmdd: only content published on or before it (with start_date; "
        "name unverified)",
    )


UNVERIFIED_NAMES_WARNING = (
    "Sailthru's docs name no parameter of delete_content: expired_only, start_date and "
    "end_date are sailjobs' names; the API may ignore them and apply its own default (all "
    "content?): ask Sailthru support before running it on an account"
)


class DeleteContent(JobType):
    """Deletes content from the library, all of it or only the expired items, optionally
    only those published in a date range. Not safe to resubmit: a job that deletes data is
    never sent again automatically (the first may have run; a person decides).

    UNVERIFIED: Sailthru's page names no parameter for the options it describes;
    ``expired_only``, ``start_date`` and ``end_date`` are sailjobs' names. ``expired_only``
    is required (no default) so the mode is always written in the reviewed manifest, and
    ``check`` warns about the guessed names on every job, so every review sees it."""

    name = "delete_content"
    description = "Delete content in bulk: all or only expired, optionally by publish dates."
    params_model = DeleteContentParams
    required_params = ("expired_only",)
    destructive = True

    def check(self, params: dict[str, Any], ctx: CheckContext) -> Iterator[ParamProblem]:
        # Every time, so that `validate` and `plan` show it on every review of the manifest.
        where = ("expired_only",) if "expired_only" in params else ()
        yield ParamProblem(where, UNVERIFIED_NAMES_WARNING, severity="warning")
        for finding in check_payload(self.name, params, file_given=False, deferred=is_expression):
            if finding.row is not INVALID_EXPIRED_ONLY:  # a wrong type: the model says it
                yield finding_problem(finding)

    def completion_warning(self, fields: Mapping[str, Any]) -> str | None:
        """A delete that matched nothing (the sandbox's ``deleted_count``)."""
        text = "delete_content completed but no content matched: nothing was deleted"
        return none_done_warning(fields, DELETED_COUNT_FIELD, text)


class ListEraseParams(StrictParams):
    lists: list[str] | None = Field(default=None, description="the names of the lists to erase")

    @field_validator("lists", mode="before")
    @classmethod
    def _lists_is_a_list(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, list):  # `lists: Old Promo`
            raise ValueError(lists_not_a_list_message(value))
        return value


class ListErase(JobType):
    """Erases lists by name (their members' profiles stay). Not safe to resubmit: a job that
    deletes data is never sent again automatically (the first may have run)."""

    name = "list_erase"
    description = "Erase lists by name (their users' profiles stay)."
    params_model = ListEraseParams
    required_params = ("lists",)
    destructive = True

    def check(self, params: dict[str, Any], ctx: CheckContext) -> Iterator[ParamProblem]:
        for finding in check_payload(self.name, params, file_given=False, deferred=is_expression):
            whole = len(finding.param) == 1
            if finding.row is INVALID_LISTS and (whole or not _is_text(params, finding.param)):
                continue  # not a list, or a name that is not text: the model says it
            problem = finding_problem(finding)
            if len(problem.path) == 2:  # ("lists", "1"): the item, as the manifest holds it
                problem = replace(problem, path=("lists", int(problem.path[1])))
            yield problem

    def completion_warning(self, fields: Mapping[str, Any]) -> str | None:
        """Names that matched no list (the sandbox's ``lists_not_found``)."""
        missing = fields.get(LISTS_NOT_FOUND_FIELD)
        if isinstance(missing, list) and missing:
            shown = ", ".join(repr(name) for name in missing)
            return f"list_erase completed, but these lists were not found: {shown}"
        return None


def _is_text(params: Mapping[str, Any], path: tuple[str | int, ...]) -> bool:
    """Whether the list item at ``path`` (``("lists", "1")``) is text."""
    items = params.get(str(path[0]))
    index = int(path[1])
    return isinstance(items, list) and index < len(items) and isinstance(items[index], str)
