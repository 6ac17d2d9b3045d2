"""Access: who the caller is and what they may do; users, access requests, declarations, decisions.

The rooms:

* :mod:`mast.access.caller`: the signed-in caller, from the verified token's claims (never from
  anything else the request says), and the group and organisation checks every route makes;
* :mod:`mast.access.users`: organisation administrators' users and access requests (Cognito);
* :mod:`mast.access.declarations`: the legal gateway and purpose declared before every search;
* :mod:`mast.access.decisions`: data stewards' "same person" / "not the same" decisions.
"""

from mast.access.caller import GROUPS, AccessDenied, Caller, Group, NotSignedIn
from mast.access.decisions import DecisionStore, LinkDecisionRequest, LinkDecisionResponse, decide
from mast.access.declarations import Declaration, DeclarationOptions, declaration_options, legal_gateways

__all__ = [
    "GROUPS",
    "AccessDenied",
    "Caller",
    "Declaration",
    "DeclarationOptions",
    "DecisionStore",
    "Group",
    "LinkDecisionRequest",
    "LinkDecisionResponse",
    "NotSignedIn",
    "decide",
    "declaration_options",
    "legal_gateways",
]
