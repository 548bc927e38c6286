from __future__ import annotations

from machipay.errors import Conflict, Forbidden, NotFound


class CampaignNotFound(NotFound):
    type_slug = "campaign-not-found"
    title = "Unknown campaign"


class CampaignStateConflict(Conflict):
    type_slug = "campaign-state-conflict"
    title = "The campaign is not in a state that allows this"


class SelfApproval(Forbidden):
    """Maker-checker: the person who wrote or submitted a campaign may not approve it."""

    type_slug = "campaign-self-approval"
    title = "A campaign needs a second person's approval"
