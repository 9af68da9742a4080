"""v2 protocol messages that kserve's generated proto lacks or lays out differently from Triton's.

They are declared in a private descriptor pool, so their ``inference.*`` names do not clash with kserve's
registration in the default pool:
- ``ModelStreamInferResponse {string error_message = 1; bytes infer_response = 2;}``: Triton's message has a
  ``ModelInferResponse`` as field 2; an embedded message and ``bytes`` share one wire format, so field 2 carries a
  serialized kserve ``ModelInferResponse``.
- ``RepositoryModelRequest {string repository_name = 1; string model_name = 2;}``: Triton's layout of
  RepositoryModelLoad/UnloadRequest. kserve's puts ``model_name`` at field 1, so a Triton client's request (what
  tritonclient sends) reads as an empty name there.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_FIELD = descriptor_pb2.FieldDescriptorProto


def _messages() -> dict[str, type]:
    file_proto = descriptor_pb2.FileDescriptorProto(
        name="ragplane_generate/modelserver/wire.proto", package="inference", syntax="proto3"
    )
    stream = file_proto.message_type.add(name="ModelStreamInferResponse")
    stream.field.add(name="error_message", number=1, type=_FIELD.TYPE_STRING, label=_FIELD.LABEL_OPTIONAL)
    stream.field.add(name="infer_response", number=2, type=_FIELD.TYPE_BYTES, label=_FIELD.LABEL_OPTIONAL)
    repository = file_proto.message_type.add(name="RepositoryModelRequest")
    repository.field.add(name="repository_name", number=1, type=_FIELD.TYPE_STRING, label=_FIELD.LABEL_OPTIONAL)
    repository.field.add(name="model_name", number=2, type=_FIELD.TYPE_STRING, label=_FIELD.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"inference.{name}"))
        for name in ("ModelStreamInferResponse", "RepositoryModelRequest")
    }


_MESSAGES = _messages()
ModelStreamInferResponse = _MESSAGES["ModelStreamInferResponse"]
RepositoryModelRequest = _MESSAGES["RepositoryModelRequest"]


def repository_model_name(request) -> str:
    """The model name of a kserve-parsed RepositoryModelLoad/UnloadRequest, from either layout."""
    triton = RepositoryModelRequest.FromString(request.SerializeToString())
    return triton.model_name or request.model_name
