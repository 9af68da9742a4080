"""Settings parsing, API key parsing and authentication, and error translation."""

from __future__ import annotations

import dataclasses

import grpc
import pytest

from ragplane.runtime import errors
from ragplane.runtime.auth import ApiKeyError, Authenticator, parse_api_keys
from ragplane.runtime.settings import CommonSettings, SettingsError, env, load_settings, positive

pytestmark = pytest.mark.unit


@dataclasses.dataclass(frozen=True)
class _Demo(CommonSettings):
    top_k: int = env("RAGPLANE_DEMO_TOP_K", 20, check=positive)
    ratio: float = env("RAGPLANE_DEMO_RATIO", 0.5)
    enabled: bool = env("RAGPLANE_DEMO_ENABLED", False)
    names: tuple[str, ...] = env("RAGPLANE_DEMO_NAMES", ())


def test_settings_use_defaults_when_unset():
    settings = load_settings(_Demo, {})
    assert settings.top_k == 20 and settings.enabled is False and settings.kafka_bootstrap == "127.0.0.1:9092"


def test_settings_parse_types_from_environment():
    settings = load_settings(
        _Demo,
        {
            "RAGPLANE_DEMO_TOP_K": "7",
            "RAGPLANE_DEMO_ENABLED": "yes",
            "RAGPLANE_DEMO_NAMES": "a, b,,c",
            "RAGPLANE_DEMO_RATIO": "0.25",
        },
    )
    assert (settings.top_k, settings.enabled, settings.names, settings.ratio) == (7, True, ("a", "b", "c"), 0.25)


@pytest.mark.parametrize(
    ("environ", "fragment"),
    [
        ({"RAGPLANE_DEMO_TOP_K": "abc"}, "RAGPLANE_DEMO_TOP_K"),
        ({"RAGPLANE_DEMO_TOP_K": "-1"}, "must be > 0, but got -1"),
        ({"RAGPLANE_DEMO_ENABLED": "maybe"}, "RAGPLANE_DEMO_ENABLED: expected a boolean"),
        ({"RAGPLANE_GRPC_LISTEN": "nohostport"}, "RAGPLANE_GRPC_LISTEN: expected host:port"),
        ({"RAGPLANE_OTEL_EXPORTER": "jaeger"}, "RAGPLANE_OTEL_EXPORTER"),
    ],
)
def test_settings_errors_name_the_variable(environ, fragment):
    with pytest.raises(SettingsError, match=fragment):
        load_settings(_Demo, environ)


def test_settings_are_frozen():
    settings = load_settings(_Demo, {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.top_k = 3  # type: ignore[misc]


def test_api_keys_parse_inline_and_file(tmp_path):
    assert parse_api_keys("k1=tenant-a, k2=tenant-b") == {"k1": "tenant-a", "k2": "tenant-b"}
    keys_file = tmp_path / "keys"
    keys_file.write_text("# team keys\nk3=team-c\n\nk4=team-d  # comment\n")
    assert parse_api_keys(str(keys_file)) == {"k3": "team-c", "k4": "team-d"}


@pytest.mark.parametrize("spec", ["k1", "k1=", "=tenant", "k1=Bad Tenant!", "/no/such/file"])
def test_api_keys_reject_malformed_entries(spec):
    with pytest.raises(ApiKeyError, match="RAGPLANE_API_KEYS"):
        parse_api_keys(spec)


def test_authenticator_maps_key_to_tenant_and_hashes_principal():
    auth = Authenticator({"secret-key": "acme"}, "svc-token")
    identity = auth.authenticate({"authorization": "Bearer secret-key"})
    assert identity.tenant == "acme" and not identity.internal and "secret-key" not in identity.principal


def test_authenticator_trusts_tenant_header_only_with_service_token():
    auth = Authenticator({"user-key": "acme"}, "svc-token")
    internal = auth.authenticate({"authorization": "Bearer svc-token", "x-ragplane-tenant": "other"})
    assert internal.tenant == "other" and internal.internal
    # An end user cannot pick a tenant: the header is ignored with a user key.
    user = auth.authenticate({"authorization": "Bearer user-key", "x-ragplane-tenant": "other"})
    assert user.tenant == "acme"


@pytest.mark.parametrize(
    "metadata",
    [{}, {"authorization": "Basic abc"}, {"authorization": "Bearer nope"}, {"authorization": "Bearer svc-token"}],
)
def test_authenticator_rejects_bad_credentials(metadata):
    with pytest.raises(errors.Unauthenticated):
        Authenticator({"user-key": "acme"}, "svc-token").authenticate(metadata)


def test_invalid_argument_message_names_the_field():
    error = errors.InvalidArgument("top_k", "must be > 0, but got -1")
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and error.message == "top_k: must be > 0, but got -1"


class _FakeRpcError(grpc.RpcError):
    def __init__(self, code):
        self._code = code

    def code(self):
        return self._code

    def details(self):
        return "boom"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (grpc.StatusCode.UNAVAILABLE, errors.Unavailable),
        (grpc.StatusCode.DEADLINE_EXCEEDED, errors.DeadlineExceeded),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, errors.ResourceExhausted),
        (grpc.StatusCode.ABORTED, errors.Aborted),
        (grpc.StatusCode.FAILED_PRECONDITION, errors.FailedPrecondition),
        (grpc.StatusCode.ALREADY_EXISTS, errors.AlreadyExists),
        (grpc.StatusCode.INVALID_ARGUMENT, errors.FailedPrecondition),
        (grpc.StatusCode.OUT_OF_RANGE, errors.FailedPrecondition),
    ],
)
def test_downstream_errors_keep_their_meaning(code, expected):
    translated = errors.from_rpc_error(_FakeRpcError(code), "embed")
    assert isinstance(translated, expected) and translated.message == "embed: boom"
    assert translated.retriable == (code in errors.RETRIABLE_CODES - {grpc.StatusCode.RESOURCE_EXHAUSTED})


@pytest.mark.parametrize(
    "code",
    [grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.DATA_LOSS],
)
def test_downstream_failures_the_caller_cannot_fix_are_internal_without_the_peers_details(code):
    translated = errors.from_rpc_error(_FakeRpcError(code), "embed")
    assert isinstance(translated, errors.Internal) and not translated.retriable
    assert translated.message.startswith(f"embed: failed with {code.name}") and "boom" not in translated.message
