from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PriorityClass(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRIORITY_UNSPECIFIED: _ClassVar[PriorityClass]
    ALERT_METADATA: _ClassVar[PriorityClass]
    SEMANTIC_FRAME: _ClassVar[PriorityClass]
    EVIDENCE: _ClassVar[PriorityClass]
    CONTEXT: _ClassVar[PriorityClass]
PRIORITY_UNSPECIFIED: PriorityClass
ALERT_METADATA: PriorityClass
SEMANTIC_FRAME: PriorityClass
EVIDENCE: PriorityClass
CONTEXT: PriorityClass

class EdgeMessage(_message.Message):
    __slots__ = ("hello", "frame", "heartbeat", "live_answer")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    LIVE_ANSWER_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    frame: FramePacket
    heartbeat: Heartbeat
    live_answer: LiveAnswer
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., frame: _Optional[_Union[FramePacket, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., live_answer: _Optional[_Union[LiveAnswer, _Mapping]] = ...) -> None: ...

class CloudMessage(_message.Message):
    __slots__ = ("welcome", "ack", "result", "hint", "error", "live_offer")
    WELCOME_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    HINT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    LIVE_OFFER_FIELD_NUMBER: _ClassVar[int]
    welcome: Welcome
    ack: Ack
    result: Result
    hint: Hint
    error: PacketError
    live_offer: LiveOffer
    def __init__(self, welcome: _Optional[_Union[Welcome, _Mapping]] = ..., ack: _Optional[_Union[Ack, _Mapping]] = ..., result: _Optional[_Union[Result, _Mapping]] = ..., hint: _Optional[_Union[Hint, _Mapping]] = ..., error: _Optional[_Union[PacketError, _Mapping]] = ..., live_offer: _Optional[_Union[LiveOffer, _Mapping]] = ...) -> None: ...

class LiveOffer(_message.Message):
    __slots__ = ("request_id", "camera_id", "sdp")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    SDP_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    camera_id: str
    sdp: str
    def __init__(self, request_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., sdp: _Optional[str] = ...) -> None: ...

class LiveAnswer(_message.Message):
    __slots__ = ("request_id", "camera_id", "sdp", "error")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    SDP_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    camera_id: str
    sdp: str
    error: str
    def __init__(self, request_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., sdp: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("edge_id", "auth_token", "agent_version", "cameras", "capabilities")
    EDGE_ID_FIELD_NUMBER: _ClassVar[int]
    AUTH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    CAMERAS_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    edge_id: str
    auth_token: str
    agent_version: str
    cameras: _containers.RepeatedCompositeFieldContainer[CameraInfo]
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, edge_id: _Optional[str] = ..., auth_token: _Optional[str] = ..., agent_version: _Optional[str] = ..., cameras: _Optional[_Iterable[_Union[CameraInfo, _Mapping]]] = ..., capabilities: _Optional[_Iterable[str]] = ...) -> None: ...

class CameraInfo(_message.Message):
    __slots__ = ("camera_id", "name", "width", "height", "fps")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    name: str
    width: int
    height: int
    fps: float
    def __init__(self, camera_id: _Optional[str] = ..., name: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., fps: _Optional[float] = ...) -> None: ...

class Welcome(_message.Message):
    __slots__ = ("session_id", "max_message_bytes", "server_version")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    max_message_bytes: int
    server_version: str
    def __init__(self, session_id: _Optional[str] = ..., max_message_bytes: _Optional[int] = ..., server_version: _Optional[str] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("sent_time", "cameras")
    SENT_TIME_FIELD_NUMBER: _ClassVar[int]
    CAMERAS_FIELD_NUMBER: _ClassVar[int]
    sent_time: float
    cameras: _containers.RepeatedCompositeFieldContainer[CameraHealth]
    def __init__(self, sent_time: _Optional[float] = ..., cameras: _Optional[_Iterable[_Union[CameraHealth, _Mapping]]] = ...) -> None: ...

class CameraHealth(_message.Message):
    __slots__ = ("camera_id", "state", "cause", "fps")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    state: str
    cause: str
    fps: float
    def __init__(self, camera_id: _Optional[str] = ..., state: _Optional[str] = ..., cause: _Optional[str] = ..., fps: _Optional[float] = ...) -> None: ...

class Box(_message.Message):
    __slots__ = ("x1", "y1", "x2", "y2")
    X1_FIELD_NUMBER: _ClassVar[int]
    Y1_FIELD_NUMBER: _ClassVar[int]
    X2_FIELD_NUMBER: _ClassVar[int]
    Y2_FIELD_NUMBER: _ClassVar[int]
    x1: float
    y1: float
    x2: float
    y2: float
    def __init__(self, x1: _Optional[float] = ..., y1: _Optional[float] = ..., x2: _Optional[float] = ..., y2: _Optional[float] = ...) -> None: ...

class Detection(_message.Message):
    __slots__ = ("box", "label", "score", "track_id")
    BOX_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    box: Box
    label: str
    score: float
    track_id: int
    def __init__(self, box: _Optional[_Union[Box, _Mapping]] = ..., label: _Optional[str] = ..., score: _Optional[float] = ..., track_id: _Optional[int] = ...) -> None: ...

class SemanticHints(_message.Message):
    __slots__ = ("counts", "zone", "dwell_seconds", "camera_name", "severity", "rule", "event_stage", "escalation", "ended_at", "duration_s", "merged_into")
    class CountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    DWELL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CAMERA_NAME_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    EVENT_STAGE_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    MERGED_INTO_FIELD_NUMBER: _ClassVar[int]
    counts: _containers.ScalarMap[str, int]
    zone: str
    dwell_seconds: float
    camera_name: str
    severity: float
    rule: str
    event_stage: str
    escalation: str
    ended_at: float
    duration_s: float
    merged_into: str
    def __init__(self, counts: _Optional[_Mapping[str, int]] = ..., zone: _Optional[str] = ..., dwell_seconds: _Optional[float] = ..., camera_name: _Optional[str] = ..., severity: _Optional[float] = ..., rule: _Optional[str] = ..., event_stage: _Optional[str] = ..., escalation: _Optional[str] = ..., ended_at: _Optional[float] = ..., duration_s: _Optional[float] = ..., merged_into: _Optional[str] = ...) -> None: ...

class FramePacket(_message.Message):
    __slots__ = ("camera_id", "sequence", "capture_time", "event_onset", "event_id", "priority", "jpeg", "width", "height", "source_width", "source_height", "detections", "hints", "sent_time", "replayed", "crop", "run_id")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_TIME_FIELD_NUMBER: _ClassVar[int]
    EVENT_ONSET_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    JPEG_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_WIDTH_FIELD_NUMBER: _ClassVar[int]
    SOURCE_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    DETECTIONS_FIELD_NUMBER: _ClassVar[int]
    HINTS_FIELD_NUMBER: _ClassVar[int]
    SENT_TIME_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    CROP_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    sequence: int
    capture_time: float
    event_onset: float
    event_id: str
    priority: PriorityClass
    jpeg: bytes
    width: int
    height: int
    source_width: int
    source_height: int
    detections: _containers.RepeatedCompositeFieldContainer[Detection]
    hints: SemanticHints
    sent_time: float
    replayed: bool
    crop: Box
    run_id: str
    def __init__(self, camera_id: _Optional[str] = ..., sequence: _Optional[int] = ..., capture_time: _Optional[float] = ..., event_onset: _Optional[float] = ..., event_id: _Optional[str] = ..., priority: _Optional[_Union[PriorityClass, str]] = ..., jpeg: _Optional[bytes] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., source_width: _Optional[int] = ..., source_height: _Optional[int] = ..., detections: _Optional[_Iterable[_Union[Detection, _Mapping]]] = ..., hints: _Optional[_Union[SemanticHints, _Mapping]] = ..., sent_time: _Optional[float] = ..., replayed: _Optional[bool] = ..., crop: _Optional[_Union[Box, _Mapping]] = ..., run_id: _Optional[str] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("camera_id", "sequence", "receive_time", "bytes", "edge_sent_time", "duplicate", "run_id", "admission")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    RECEIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    EDGE_SENT_TIME_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ADMISSION_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    sequence: int
    receive_time: float
    bytes: int
    edge_sent_time: float
    duplicate: bool
    run_id: str
    admission: str
    def __init__(self, camera_id: _Optional[str] = ..., sequence: _Optional[int] = ..., receive_time: _Optional[float] = ..., bytes: _Optional[int] = ..., edge_sent_time: _Optional[float] = ..., duplicate: _Optional[bool] = ..., run_id: _Optional[str] = ..., admission: _Optional[str] = ...) -> None: ...

class Result(_message.Message):
    __slots__ = ("event_id", "camera_id", "alert_id", "description_json", "description_status")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_JSON_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_STATUS_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    camera_id: str
    alert_id: str
    description_json: str
    description_status: str
    def __init__(self, event_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., alert_id: _Optional[str] = ..., description_json: _Optional[str] = ..., description_status: _Optional[str] = ...) -> None: ...

class Hint(_message.Message):
    __slots__ = ("target_bitrate_bps", "classes_of_interest", "evidence_event_ids", "backpressure", "reason")
    TARGET_BITRATE_BPS_FIELD_NUMBER: _ClassVar[int]
    CLASSES_OF_INTEREST_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_EVENT_IDS_FIELD_NUMBER: _ClassVar[int]
    BACKPRESSURE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    target_bitrate_bps: int
    classes_of_interest: _containers.RepeatedScalarFieldContainer[str]
    evidence_event_ids: _containers.RepeatedScalarFieldContainer[str]
    backpressure: float
    reason: str
    def __init__(self, target_bitrate_bps: _Optional[int] = ..., classes_of_interest: _Optional[_Iterable[str]] = ..., evidence_event_ids: _Optional[_Iterable[str]] = ..., backpressure: _Optional[float] = ..., reason: _Optional[str] = ...) -> None: ...

class PacketError(_message.Message):
    __slots__ = ("camera_id", "sequence", "code", "message", "run_id")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    sequence: int
    code: str
    message: str
    run_id: str
    def __init__(self, camera_id: _Optional[str] = ..., sequence: _Optional[int] = ..., code: _Optional[str] = ..., message: _Optional[str] = ..., run_id: _Optional[str] = ...) -> None: ...
