"""The Kafka group and admin requests the worker makes beyond aiokafka's public API: its
consumer's member id, removing a dead member (the peer watch, peers.py), and describing
topics without creating missing ones (topics.py). What they rely on is declared in
`INTERNALS`, checked with the rest by faust_private.verify_installed()."""

from __future__ import annotations

from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.metadata import MetadataRequest
from aiokafka.protocol.types import Array, Int16, Int32, Schema, String

from engine.agents.internals import ATTRIBUTE, COROUTINE, METHOD, Internal

INTERNALS: tuple[Internal, ...] = (
    # Describing topics before Faust starts (topics.py), without creating missing ones.
    Internal("aiokafka.admin.client:AIOKafkaAdminClient", "_send_request", COROUTINE,
             params=("self", "request", "node_id"),
             why="sends a metadata request of pushcast's own (describe_topics' allows auto-create)"),
    Internal("aiokafka.protocol.metadata:MetadataRequest", "__init__", METHOD,
             params=("self", "topics", "allow_auto_topic_creation"),
             why="a metadata request that leaves a missing topic missing"),
    # The peer watch (peers.py): this worker's member id, and removing a dead member.
    Internal("aiokafka.consumer.consumer:AIOKafkaConsumer", "_coordinator", ATTRIBUTE,
             set_by=("aiokafka.consumer.consumer:AIOKafkaConsumer.start",), why="its group coordinator"),
    Internal("aiokafka.consumer.group_coordinator:GroupCoordinator", "member_id", ATTRIBUTE,
             set_by=("aiokafka.consumer.group_coordinator:GroupCoordinator.__init__",),
             why="the member id the broker gave this worker (what a peer removes when it dies)"),
    Internal("aiokafka.admin.client:AIOKafkaAdminClient", "_send_request_to_node", COROUTINE,
             params=("self", "node_id", "request"),
             why="sends the LeaveGroup v3 request to the group coordinator (no admin call removes members)"),
)


# --- the peer watch: removing a dead member (peers.py) --------------------------------


def group_member_id(app) -> str | None:
    """The member id the group coordinator gave this worker's consumer (None before it
    joined). Faust and aiokafka have no public getter; a str read across threads."""
    kafka_consumer = getattr(getattr(app.consumer, "_thread", None), "_consumer", None)
    coordinator = getattr(kafka_consumer, "_coordinator", None)
    member = getattr(coordinator, "member_id", None)
    return member or None


class _LeaveGroupResponse_v3(Response):
    API_KEY = 13
    API_VERSION = 3
    SCHEMA = Schema(("throttle_time_ms", Int32), ("error_code", Int16),
                    ("members", Array(("member_id", String("utf-8")), ("group_instance_id", String("utf-8")),
                                      ("error_code", Int16))))


class _LeaveGroupRequest_v3(RequestStruct):
    API_KEY = 13
    API_VERSION = 3
    RESPONSE_TYPE = _LeaveGroupResponse_v3
    SCHEMA = Schema(("group", String("utf-8")),
                    ("members", Array(("member_id", String("utf-8")), ("group_instance_id", String("utf-8")))))


class _RemoveMembers(Request[_LeaveGroupRequest_v3]):
    """LeaveGroup v3 (Kafka 2.4+, KIP-345) naming members other than the sender: the
    coordinator drops them and rebalances at once. aiokafka only speaks v0/v1 (leave
    oneself)."""

    API_KEY = 13

    def __init__(self, group: str, member_ids: list[str]):
        self.group, self.member_ids = group, member_ids

    def build(self, request_struct_class):
        return request_struct_class(self.group, [(member, None) for member in self.member_ids])


async def remove_group_members(admin, group: str, member_ids: list[str]) -> dict[str, int]:
    """Remove `member_ids` from `group` through a started `AIOKafkaAdminClient`: {member id:
    Kafka error code} (0: removed; 25 UNKNOWN_MEMBER_ID: already gone)."""
    node = await admin.find_coordinator(group)
    response = await admin._send_request_to_node(node, _RemoveMembers(group, member_ids))
    if response.error_code and not response.members:
        return {member: response.error_code for member in member_ids}
    return {member: error for member, _instance, error in response.members}


# --- topics, before Faust starts ------------------------------------------------------


async def describe_topics_uncreated(admin, names: list[str]) -> list[dict]:
    """aiokafka's `describe_topics` without its metadata request's default: that one lets
    the broker auto-create a topic it lacks, at the broker's partition count; here a
    missing topic stays missing (and is made at the count the worker asks, topics.py).
    `admin` is a started `AIOKafkaAdminClient`; the topics' metadata as dicts."""
    response = await admin._send_request(MetadataRequest(names, allow_auto_topic_creation=False))
    return response.to_object()["topics"]
