"""The gRPC messages of the Open Inference Protocol, built from the committed descriptor.

``grpc_predict_v2.proto`` (beside this module) is compiled by grpcio-tools into a
serialized ``FileDescriptorSet``, kept below as ``DESCRIPTOR`` so that serving needs only
``grpcio`` and ``protobuf``, not the compiler; ``python -m polyclass.serve._grpc_proto``
compiles the file again and rewrites ``DESCRIPTOR`` (a test holds the two equal).

The message classes live in a descriptor pool of their own, not protobuf's default
pool: another V2 implementation in the same process (``tritonclient.grpc``, MLServer)
defines the same ``inference.*`` names, and two files defining one name cannot share
a pool. Names never go on the wire, field numbers do.
"""

from __future__ import annotations

import base64
import functools
import sys
from pathlib import Path
from typing import Any

__all__ = ["DESCRIPTOR", "SERVICE", "compile_proto", "messages"]

#: The full name of the service, as it appears in every call's path.
SERVICE = "inference.GRPCInferenceService"

PROTO = Path(__file__).with_name("grpc_predict_v2.proto")

# fmt: off
DESCRIPTOR = base64.b64decode(
    "CvEgChVncnBjX3ByZWRpY3RfdjIucHJvdG8SCWluZmVyZW5jZSITChFTZXJ2ZXJMaXZlUmVxdWVz"
    "dCIoChJTZXJ2ZXJMaXZlUmVzcG9uc2USEgoEbGl2ZRgBIAEoCFIEbGl2ZSIUChJTZXJ2ZXJSZWFk"
    "eVJlcXVlc3QiKwoTU2VydmVyUmVhZHlSZXNwb25zZRIUCgVyZWFkeRgBIAEoCFIFcmVhZHkiQQoR"
    "TW9kZWxSZWFkeVJlcXVlc3QSEgoEbmFtZRgBIAEoCVIEbmFtZRIYCgd2ZXJzaW9uGAIgASgJUgd2"
    "ZXJzaW9uIioKEk1vZGVsUmVhZHlSZXNwb25zZRIUCgVyZWFkeRgBIAEoCFIFcmVhZHkiFwoVU2Vy"
    "dmVyTWV0YWRhdGFSZXF1ZXN0ImYKFlNlcnZlck1ldGFkYXRhUmVzcG9uc2USEgoEbmFtZRgBIAEo"
    "CVIEbmFtZRIYCgd2ZXJzaW9uGAIgASgJUgd2ZXJzaW9uEh4KCmV4dGVuc2lvbnMYAyADKAlSCmV4"
    "dGVuc2lvbnMiRAoUTW9kZWxNZXRhZGF0YVJlcXVlc3QSEgoEbmFtZRgBIAEoCVIEbmFtZRIYCgd2"
    "ZXJzaW9uGAIgASgJUgd2ZXJzaW9uIs8CChVNb2RlbE1ldGFkYXRhUmVzcG9uc2USEgoEbmFtZRgB"
    "IAEoCVIEbmFtZRIaCgh2ZXJzaW9ucxgCIAMoCVIIdmVyc2lvbnMSGgoIcGxhdGZvcm0YAyABKAlS"
    "CHBsYXRmb3JtEkcKBmlucHV0cxgEIAMoCzIvLmluZmVyZW5jZS5Nb2RlbE1ldGFkYXRhUmVzcG9u"
    "c2UuVGVuc29yTWV0YWRhdGFSBmlucHV0cxJJCgdvdXRwdXRzGAUgAygLMi8uaW5mZXJlbmNlLk1v"
    "ZGVsTWV0YWRhdGFSZXNwb25zZS5UZW5zb3JNZXRhZGF0YVIHb3V0cHV0cxpWCg5UZW5zb3JNZXRh"
    "ZGF0YRISCgRuYW1lGAEgASgJUgRuYW1lEhoKCGRhdGF0eXBlGAIgASgJUghkYXRhdHlwZRIUCgVz"
    "aGFwZRgDIAMoA1IFc2hhcGUijQEKDkluZmVyUGFyYW1ldGVyEh8KCmJvb2xfcGFyYW0YASABKAhI"
    "AFIJYm9vbFBhcmFtEiEKC2ludDY0X3BhcmFtGAIgASgDSABSCmludDY0UGFyYW0SIwoMc3RyaW5n"
    "X3BhcmFtGAMgASgJSABSC3N0cmluZ1BhcmFtQhIKEHBhcmFtZXRlcl9jaG9pY2UiwwIKE0luZmVy"
    "VGVuc29yQ29udGVudHMSIwoNYm9vbF9jb250ZW50cxgBIAMoCFIMYm9vbENvbnRlbnRzEiEKDGlu"
    "dF9jb250ZW50cxgCIAMoBVILaW50Q29udGVudHMSJQoOaW50NjRfY29udGVudHMYAyADKANSDWlu"
    "dDY0Q29udGVudHMSIwoNdWludF9jb250ZW50cxgEIAMoDVIMdWludENvbnRlbnRzEicKD3VpbnQ2"
    "NF9jb250ZW50cxgFIAMoBFIOdWludDY0Q29udGVudHMSIwoNZnAzMl9jb250ZW50cxgGIAMoAlIM"
    "ZnAzMkNvbnRlbnRzEiMKDWZwNjRfY29udGVudHMYByADKAFSDGZwNjRDb250ZW50cxIlCg5ieXRl"
    "c19jb250ZW50cxgIIAMoDFINYnl0ZXNDb250ZW50cyKdCAoRTW9kZWxJbmZlclJlcXVlc3QSHQoK"
    "bW9kZWxfbmFtZRgBIAEoCVIJbW9kZWxOYW1lEiMKDW1vZGVsX3ZlcnNpb24YAiABKAlSDG1vZGVs"
    "VmVyc2lvbhIOCgJpZBgDIAEoCVICaWQSTAoKcGFyYW1ldGVycxgEIAMoCzIsLmluZmVyZW5jZS5N"
    "b2RlbEluZmVyUmVxdWVzdC5QYXJhbWV0ZXJzRW50cnlSCnBhcmFtZXRlcnMSRQoGaW5wdXRzGAUg"
    "AygLMi0uaW5mZXJlbmNlLk1vZGVsSW5mZXJSZXF1ZXN0LkluZmVySW5wdXRUZW5zb3JSBmlucHV0"
    "cxJRCgdvdXRwdXRzGAYgAygLMjcuaW5mZXJlbmNlLk1vZGVsSW5mZXJSZXF1ZXN0LkluZmVyUmVx"
    "dWVzdGVkT3V0cHV0VGVuc29yUgdvdXRwdXRzEiwKEnJhd19pbnB1dF9jb250ZW50cxgHIAMoDFIQ"
    "cmF3SW5wdXRDb250ZW50cxrNAgoQSW5mZXJJbnB1dFRlbnNvchISCgRuYW1lGAEgASgJUgRuYW1l"
    "EhoKCGRhdGF0eXBlGAIgASgJUghkYXRhdHlwZRIUCgVzaGFwZRgDIAMoA1IFc2hhcGUSXQoKcGFy"
    "YW1ldGVycxgEIAMoCzI9LmluZmVyZW5jZS5Nb2RlbEluZmVyUmVxdWVzdC5JbmZlcklucHV0VGVu"
    "c29yLlBhcmFtZXRlcnNFbnRyeVIKcGFyYW1ldGVycxI6Cghjb250ZW50cxgFIAEoCzIeLmluZmVy"
    "ZW5jZS5JbmZlclRlbnNvckNvbnRlbnRzUghjb250ZW50cxpYCg9QYXJhbWV0ZXJzRW50cnkSEAoD"
    "a2V5GAEgASgJUgNrZXkSLwoFdmFsdWUYAiABKAsyGS5pbmZlcmVuY2UuSW5mZXJQYXJhbWV0ZXJS"
    "BXZhbHVlOgI4ARrzAQoaSW5mZXJSZXF1ZXN0ZWRPdXRwdXRUZW5zb3ISEgoEbmFtZRgBIAEoCVIE"
    "bmFtZRJnCgpwYXJhbWV0ZXJzGAIgAygLMkcuaW5mZXJlbmNlLk1vZGVsSW5mZXJSZXF1ZXN0Lklu"
    "ZmVyUmVxdWVzdGVkT3V0cHV0VGVuc29yLlBhcmFtZXRlcnNFbnRyeVIKcGFyYW1ldGVycxpYCg9Q"
    "YXJhbWV0ZXJzRW50cnkSEAoDa2V5GAEgASgJUgNrZXkSLwoFdmFsdWUYAiABKAsyGS5pbmZlcmVu"
    "Y2UuSW5mZXJQYXJhbWV0ZXJSBXZhbHVlOgI4ARpYCg9QYXJhbWV0ZXJzRW50cnkSEAoDa2V5GAEg"
    "ASgJUgNrZXkSLwoFdmFsdWUYAiABKAsyGS5pbmZlcmVuY2UuSW5mZXJQYXJhbWV0ZXJSBXZhbHVl"
    "OgI4ASK6AQoYTW9kZWxSZXBvc2l0b3J5UGFyYW1ldGVyEh8KCmJvb2xfcGFyYW0YASABKAhIAFIJ"
    "Ym9vbFBhcmFtEiEKC2ludDY0X3BhcmFtGAIgASgDSABSCmludDY0UGFyYW0SIwoMc3RyaW5nX3Bh"
    "cmFtGAMgASgJSABSC3N0cmluZ1BhcmFtEiEKC2J5dGVzX3BhcmFtGAQgASgMSABSCmJ5dGVzUGFy"
    "YW1CEgoQcGFyYW1ldGVyX2Nob2ljZSKfAgoaUmVwb3NpdG9yeU1vZGVsTG9hZFJlcXVlc3QSJwoP"
    "cmVwb3NpdG9yeV9uYW1lGAEgASgJUg5yZXBvc2l0b3J5TmFtZRIdCgptb2RlbF9uYW1lGAIgASgJ"
    "Ugltb2RlbE5hbWUSVQoKcGFyYW1ldGVycxgDIAMoCzI1LmluZmVyZW5jZS5SZXBvc2l0b3J5TW9k"
    "ZWxMb2FkUmVxdWVzdC5QYXJhbWV0ZXJzRW50cnlSCnBhcmFtZXRlcnMaYgoPUGFyYW1ldGVyc0Vu"
    "dHJ5EhAKA2tleRgBIAEoCVIDa2V5EjkKBXZhbHVlGAIgASgLMiMuaW5mZXJlbmNlLk1vZGVsUmVw"
    "b3NpdG9yeVBhcmFtZXRlclIFdmFsdWU6AjgBIh0KG1JlcG9zaXRvcnlNb2RlbExvYWRSZXNwb25z"
    "ZSLfBQoSTW9kZWxJbmZlclJlc3BvbnNlEh0KCm1vZGVsX25hbWUYASABKAlSCW1vZGVsTmFtZRIj"
    "Cg1tb2RlbF92ZXJzaW9uGAIgASgJUgxtb2RlbFZlcnNpb24SDgoCaWQYAyABKAlSAmlkEk0KCnBh"
    "cmFtZXRlcnMYBCADKAsyLS5pbmZlcmVuY2UuTW9kZWxJbmZlclJlc3BvbnNlLlBhcmFtZXRlcnNF"
    "bnRyeVIKcGFyYW1ldGVycxJJCgdvdXRwdXRzGAUgAygLMi8uaW5mZXJlbmNlLk1vZGVsSW5mZXJS"
    "ZXNwb25zZS5JbmZlck91dHB1dFRlbnNvclIHb3V0cHV0cxIuChNyYXdfb3V0cHV0X2NvbnRlbnRz"
    "GAYgAygMUhFyYXdPdXRwdXRDb250ZW50cxrQAgoRSW5mZXJPdXRwdXRUZW5zb3ISEgoEbmFtZRgB"
    "IAEoCVIEbmFtZRIaCghkYXRhdHlwZRgCIAEoCVIIZGF0YXR5cGUSFAoFc2hhcGUYAyADKANSBXNo"
    "YXBlEl8KCnBhcmFtZXRlcnMYBCADKAsyPy5pbmZlcmVuY2UuTW9kZWxJbmZlclJlc3BvbnNlLklu"
    "ZmVyT3V0cHV0VGVuc29yLlBhcmFtZXRlcnNFbnRyeVIKcGFyYW1ldGVycxI6Cghjb250ZW50cxgF"
    "IAEoCzIeLmluZmVyZW5jZS5JbmZlclRlbnNvckNvbnRlbnRzUghjb250ZW50cxpYCg9QYXJhbWV0"
    "ZXJzRW50cnkSEAoDa2V5GAEgASgJUgNrZXkSLwoFdmFsdWUYAiABKAsyGS5pbmZlcmVuY2UuSW5m"
    "ZXJQYXJhbWV0ZXJSBXZhbHVlOgI4ARpYCg9QYXJhbWV0ZXJzRW50cnkSEAoDa2V5GAEgASgJUgNr"
    "ZXkSLwoFdmFsdWUYAiABKAsyGS5pbmZlcmVuY2UuSW5mZXJQYXJhbWV0ZXJSBXZhbHVlOgI4ATLk"
    "BAoUR1JQQ0luZmVyZW5jZVNlcnZpY2USSwoKU2VydmVyTGl2ZRIcLmluZmVyZW5jZS5TZXJ2ZXJM"
    "aXZlUmVxdWVzdBodLmluZmVyZW5jZS5TZXJ2ZXJMaXZlUmVzcG9uc2UiABJOCgtTZXJ2ZXJSZWFk"
    "eRIdLmluZmVyZW5jZS5TZXJ2ZXJSZWFkeVJlcXVlc3QaHi5pbmZlcmVuY2UuU2VydmVyUmVhZHlS"
    "ZXNwb25zZSIAEksKCk1vZGVsUmVhZHkSHC5pbmZlcmVuY2UuTW9kZWxSZWFkeVJlcXVlc3QaHS5p"
    "bmZlcmVuY2UuTW9kZWxSZWFkeVJlc3BvbnNlIgASVwoOU2VydmVyTWV0YWRhdGESIC5pbmZlcmVu"
    "Y2UuU2VydmVyTWV0YWRhdGFSZXF1ZXN0GiEuaW5mZXJlbmNlLlNlcnZlck1ldGFkYXRhUmVzcG9u"
    "c2UiABJUCg1Nb2RlbE1ldGFkYXRhEh8uaW5mZXJlbmNlLk1vZGVsTWV0YWRhdGFSZXF1ZXN0GiAu"
    "aW5mZXJlbmNlLk1vZGVsTWV0YWRhdGFSZXNwb25zZSIAEksKCk1vZGVsSW5mZXISHC5pbmZlcmVu"
    "Y2UuTW9kZWxJbmZlclJlcXVlc3QaHS5pbmZlcmVuY2UuTW9kZWxJbmZlclJlc3BvbnNlIgASZgoT"
    "UmVwb3NpdG9yeU1vZGVsTG9hZBIlLmluZmVyZW5jZS5SZXBvc2l0b3J5TW9kZWxMb2FkUmVxdWVz"
    "dBomLmluZmVyZW5jZS5SZXBvc2l0b3J5TW9kZWxMb2FkUmVzcG9uc2UiAGIGcHJvdG8z"
)
# fmt: on


@functools.cache
def messages() -> dict[str, Any]:
    """Each message class of the protocol by its name (``"ModelInferRequest"``...)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR)
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    described = pool.FindFileByName(files.file[0].name)
    return {
        name: message_factory.GetMessageClass(message)
        for name, message in described.message_types_by_name.items()
    }


def compile_proto() -> bytes:
    """``grpc_predict_v2.proto`` compiled by grpcio-tools: a serialized FileDescriptorSet."""
    import tempfile

    from grpc_tools import protoc

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        code = protoc.main(
            [
                "protoc",
                f"--proto_path={PROTO.parent}",
                f"--descriptor_set_out={out}",
                PROTO.name,
            ]
        )
        if code != 0:
            raise RuntimeError(f"protoc failed on {PROTO} (exit {code})")
        return out.read_bytes()


def _rewrite() -> None:
    """Put the compiled descriptor into this file, 76 base64 characters a line."""
    text = base64.b64encode(compile_proto()).decode("ascii")
    lines = "\n".join(f'    "{text[i : i + 76]}"' for i in range(0, len(text), 76))
    source = Path(__file__)
    code = source.read_text(encoding="utf-8")
    start = code.index("DESCRIPTOR = base64.b64decode(\n") + len("DESCRIPTOR = base64.b64decode(\n")
    end = code.index("\n)\n# fmt: on", start)
    tmp = source.with_suffix(".tmp")
    tmp.write_text(code[:start] + lines + code[end:], encoding="utf-8")
    tmp.replace(source)


if __name__ == "__main__":
    _rewrite()
    sys.stdout.write(f"rewrote DESCRIPTOR in {__file__}\n")
