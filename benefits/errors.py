"""The benefits context's errors (each a problem+json type of its own)."""

from __future__ import annotations

from machipay.errors import Conflict, Forbidden, NotFound


class BenefitNotFound(NotFound):
    type_slug = "benefit-not-found"
    title = "Unknown benefit"


class BenefitStateConflict(Conflict):
    type_slug = "benefit-state-conflict"
    title = "The benefit is not in a state that allows this"


class BenefitSelfApproval(Forbidden):
    """Maker-checker: whoever created, edited, uploaded recipients to or submitted a
    benefit may not approve it."""

    type_slug = "benefit-self-approval"
    title = "A benefit needs a second person's approval"
