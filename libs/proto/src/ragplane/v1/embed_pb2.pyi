from ragplane.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EmbedInputType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EMBED_INPUT_TYPE_UNSPECIFIED: _ClassVar[EmbedInputType]
    EMBED_INPUT_TYPE_QUERY: _ClassVar[EmbedInputType]
    EMBED_INPUT_TYPE_DOCUMENT: _ClassVar[EmbedInputType]
EMBED_INPUT_TYPE_UNSPECIFIED: EmbedInputType
EMBED_INPUT_TYPE_QUERY: EmbedInputType
EMBED_INPUT_TYPE_DOCUMENT: EmbedInputType

class EmbedRequest(_message.Message):
    __slots__ = ("texts", "input_type", "dense", "sparse")
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TYPE_FIELD_NUMBER: _ClassVar[int]
    DENSE_FIELD_NUMBER: _ClassVar[int]
    SPARSE_FIELD_NUMBER: _ClassVar[int]
    texts: _containers.RepeatedScalarFieldContainer[str]
    input_type: EmbedInputType
    dense: bool
    sparse: bool
    def __init__(self, texts: _Optional[_Iterable[str]] = ..., input_type: _Optional[_Union[EmbedInputType, str]] = ..., dense: _Optional[bool] = ..., sparse: _Optional[bool] = ...) -> None: ...

class Embedding(_message.Message):
    __slots__ = ("dense", "sparse")
    DENSE_FIELD_NUMBER: _ClassVar[int]
    SPARSE_FIELD_NUMBER: _ClassVar[int]
    dense: _containers.RepeatedScalarFieldContainer[float]
    sparse: _common_pb2.SparseVector
    def __init__(self, dense: _Optional[_Iterable[float]] = ..., sparse: _Optional[_Union[_common_pb2.SparseVector, _Mapping]] = ...) -> None: ...

class EmbedResponse(_message.Message):
    __slots__ = ("embeddings", "dense_model", "dimensions", "sparse_model")
    EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    DENSE_MODEL_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    SPARSE_MODEL_FIELD_NUMBER: _ClassVar[int]
    embeddings: _containers.RepeatedCompositeFieldContainer[Embedding]
    dense_model: str
    dimensions: int
    sparse_model: str
    def __init__(self, embeddings: _Optional[_Iterable[_Union[Embedding, _Mapping]]] = ..., dense_model: _Optional[str] = ..., dimensions: _Optional[int] = ..., sparse_model: _Optional[str] = ...) -> None: ...
