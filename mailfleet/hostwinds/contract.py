"""Everything mailfleet assumes about the Hostwinds Cloud API, in one place.

The official reference was not available (Hostwinds publishes no machine-readable one). The client
(`mailfleet.hostwinds.client`) and the double (`testbed.doubles.hostwinds`) both import this
module, so an assumption is changed here once and both sides follow. Items marked (unverified)
come from third-party sources or are our own guesses; they are the first thing to check against
the real API.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from mailfleet.regions import Region

#: The one endpoint. Every call is a form-encoded POST to it.
DEFAULT_API_URL: Final = "https://clients.hostwinds.com/cloud/api.php"
API_PATH: Final = "/cloud/api.php"

#: Form fields carrying the action name and the key.
FIELD_ACTION: Final = "action"
FIELD_KEY: Final = "API"

#: Fields that hold secrets in responses: stripped by the client at the boundary, in every shape.
SECRET_FIELDS: Final = frozenset({"password", "configkey"})

# --- envelopes -------------------------------------------------------------------------------
SUCCESS_KEY: Final = "success"  # read ok: {"success": <object or list>}; bool checks: {"success": true}
RESULT_KEY: Final = "result"  # mutation/error: [{"result": "success"|"error", "action", "message"}]
RESULT_OK: Final = "success"
RESULT_ERROR: Final = "error"
ERROR_CODE_KEY: Final = "ERROR"

# --- error messages the API answers with (matched case-insensitively, trailing dot ignored) ---
MSG_NOT_AUTHORIZED: Final = "Not Authorized!"
ACTION_AUTHORIZATION: Final = "Authorization"
MSG_INVALID_ACTION: Final = "Invalid Action."
CODE_INVALID_ACTION: Final = "6734"
MSG_INVALID_SERVICEID: Final = "A valid serviceid is required."
#: (unverified) wording of "only one upgrade order at a time"; matched by substring.
MSG_UPGRADE_PENDING_FRAGMENT: Final = "upgrade order"
#: add_instance answers this and NO serviceid (unverified): find the server by srvrname.
MSG_SERVER_CREATING: Final = "Server is being Created!"


class Action(StrEnum):
    """Action names used by mailfleet (the API has more; see the reference)."""

    GET_INSTANCES = "get_instances"
    GET_INSTANCE = "get_instance"
    GET_INSTANCE_IDS = "get_instance_ids"
    CHECK_SERVICEID = "check_serviceid"
    GET_INSTANCE_IPS = "get_instance_ips"
    GET_PRICE_LIST = "get_price_list"
    GET_LOCATIONS = "get_locations"
    GET_PUBLIC_IMAGES = "get_public_images"
    ADD_INSTANCE = "add_instance"
    TERMINATE = "terminate"
    BOOT = "boot"
    SHUTDOWN = "shutdown"
    REBOOT = "reboot"
    REINSTALL_INSTANCE = "reinstall_instance"
    CHANGE_MAIN_IP = "change_main_ip"
    SET_RDNS = "set_rdns"
    UPGRADE_INSTANCE = "upgrade_instance"  # orders the new plan (rid); upgrade_server applies it
    UPGRADE_SERVER = "upgrade_server"
    CHECK_UPGRADE_ORDER = "check_upgrade_order"  # {"success": true} while an order is open (unverified)
    CONFIRM_UPGRADE = "confirm_upgrade"
    REVERT_UPGRADE = "revert_upgrade"
    ADD_SSH_KEY = "add_ssh_key"


#: Actions the client may resend after an answer was lost (timeout, 5xx, HTML body): repeating them
#: cannot buy, destroy or re-address anything. Every other action is sent once; a lost answer to
#: one of them raises AmbiguousResultError (add_instance is then looked up by srvrname).
RETRY_SAFE_ACTIONS: Final = frozenset(
    {
        Action.GET_INSTANCES,
        Action.GET_INSTANCE,
        Action.GET_INSTANCE_IDS,
        Action.CHECK_SERVICEID,
        Action.GET_INSTANCE_IPS,
        Action.GET_PRICE_LIST,
        Action.GET_LOCATIONS,
        Action.GET_PUBLIC_IMAGES,
        Action.CHECK_UPGRADE_ORDER,
        # Setting a PTR or a power state twice leaves the same result.
        Action.SET_RDNS,
        Action.BOOT,
        Action.SHUTDOWN,
    }
)


class InstanceStatus(StrEnum):
    """`status` values. ACTIVE and RESIZED are seen; the rest are OpenStack-style (unverified)."""

    BUILD = "BUILD"
    ACTIVE = "ACTIVE"
    SHUTOFF = "SHUTOFF"
    RESIZED = "RESIZED"
    REBUILD = "REBUILD"
    ERROR = "ERROR"


# --- parameter names (beyond action/API) ---------------------------------------------------
PARAM_SERVICEID: Final = "serviceid"
#: add_instance parameters (unverified beyond template, rid, location_id).
PARAM_TEMPLATE: Final = "template"
PARAM_RID: Final = "rid"
PARAM_LOCATION_ID: Final = "location_id"
PARAM_SRVRNAME: Final = "srvrname"  # (unverified) same name as the instance field
PARAM_SSH_KEYS: Final = "ssh_keys"  # (unverified) list of saved key ids, sent as ssh_keys[]=...
PARAM_SSH_KEY_NAME: Final = "name"  # add_ssh_key (unverified)
PARAM_SSH_PUBLIC_KEY: Final = "key"  # add_ssh_key (unverified)
PARAM_IP: Final = "ip"
PARAM_RDNS: Final = "rdns"

# --- response shapes -------------------------------------------------------------------------
#: get_instance_ips: {"success": {"IP Addresses": [{"ip": ...}]}}
IPS_KEY: Final = "IP Addresses"
#: (unverified) each IP entry may carry its PTR as "rdns"; without it set_rdns cannot be checked.
IP_RDNS_KEY: Final = "rdns"
#: add_ssh_key answers {"success": {"id": <int>}} (unverified).
SSH_KEY_ID_FIELD: Final = "id"
#: Location ids and names (unverified ids). get_locations is only asked about an id not listed here,
#: so a normal inventory refresh costs one get_instances and one get_price_list.
KNOWN_LOCATIONS: Final = {1: "Seattle", 2: "Dallas", 3: "Amsterdam"}
#: The region of each location (Hostwinds' data centres: Seattle and Dallas in the US, Amsterdam in
#: the Netherlands; none in Asia).
LOCATION_REGIONS: Final = {"Seattle": Region.US, "Dallas": Region.US, "Amsterdam": Region.EU}
#: get_locations entries: {"id": <int>, "name": "Seattle"} (unverified shape).
LOCATION_ID_FIELD: Final = "id"
LOCATION_NAME_FIELD: Final = "name"
#: The instance field holding the plan; assumed equal to the price list's rid (unverified),
#: with product_name == price name as the fallback join.
INSTANCE_PLAN_FIELD: Final = "product_id"
INSTANCE_PLAN_NAME_FIELD: Final = "product_name"
PRICE_FIELDS: Final = ("monthly", "quarterly", "semiannually", "annually", "biennially", "triennially")
TIMESTAMP_FORMAT: Final = "%Y-%m-%d %H:%M:%S"

# --- timings seen ------------------------------------------------------------------------------
#: The main IP changes after about a minute; after this long unchanged we call it the cooldown.
MAIN_IP_CHANGE_TIMEOUT_S: Final = 180.0
#: A new VPS takes minutes to tens of minutes.
BUILD_TIMEOUT_S: Final = 1800.0
#: add_instance gives no id: how long to look for the new srvrname before calling it ambiguous.
CREATE_LOOKUP_TIMEOUT_S: Final = 60.0
