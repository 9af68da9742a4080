"""The chunks consumer: ChunksEvents in, VectorsEvents out, offsets committed after the broker acked.

One handler call gets a micro-batch of records (at most ``RAGPLANE_EMBED_BATCH_RECORDS``, waiting at most
``RAGPLANE_EMBED_BATCH_WAIT_S`` for more after the first): every chunk of every UPSERT in it is embedded in
one call (dense in model batches, sparse alongside), one VectorsEvent per ChunksEvent is produced with the
same key, version and batch position, and the handler returns only after the broker acknowledged them, so
the ConsumerRunner commits offsets after the vectors are safe. DELETE events pass through without vectors.
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.timestamp_pb2 import Timestamp

from ragplane.runtime.kafka import Envelope, EventProducer, PoisonMessage
from ragplane.runtime.logs import get_logger
from ragplane.v1 import common_pb2, events_pb2
from ragplane_embed.embedder import Embedder

log = get_logger(__name__)


def validate(event: events_pb2.ChunksEvent) -> None:
    """Reject events that can never be embedded.

    Raises:
        PoisonMessage: naming the field that is wrong.
    """
    if not event.tenant:
        raise PoisonMessage("ChunksEvent.tenant is empty")
    if not event.doc_id:
        raise PoisonMessage("ChunksEvent.doc_id is empty")
    if event.operation not in (events_pb2.DOCUMENT_OPERATION_UPSERT, events_pb2.DOCUMENT_OPERATION_DELETE):
        raise PoisonMessage(f"ChunksEvent.operation must be UPSERT or DELETE, but got {event.operation}")
    if event.operation == events_pb2.DOCUMENT_OPERATION_UPSERT:
        for i, chunk in enumerate(event.chunks):
            if not chunk.text.strip():
                raise PoisonMessage(f"ChunksEvent.chunks[{i}].text is empty")


class ChunksHandler:
    """Embeds a micro-batch of ChunksEvents and produces the VectorsEvents.

    Args:
        embedder: the started embedder.
        producer: produces to ``vectors_topic`` and waits for acknowledgements.
        vectors_topic: where VectorsEvents go.
    """

    def __init__(self, embedder: Embedder, producer: EventProducer, vectors_topic: str) -> None:
        self.embedder = embedder
        self.producer = producer
        self.vectors_topic = vectors_topic

    def __call__(self, batch: Sequence[Envelope[events_pb2.ChunksEvent]]) -> None:
        for envelope in batch:
            validate(envelope.message)
        texts = [
            chunk.text
            for env in batch
            if env.message.operation == events_pb2.DOCUMENT_OPERATION_UPSERT
            for chunk in env.message.chunks
        ]
        embeddings = self.embedder.embed(texts, query=False, source="consumer")
        out: list[tuple[str, events_pb2.VectorsEvent]] = []
        position = 0
        for envelope in batch:
            event = envelope.message
            vectors = events_pb2.VectorsEvent(
                tenant=event.tenant,
                doc_id=event.doc_id,
                version=event.version,
                operation=event.operation,
                batch=event.batch,
                dense_model=self.embedder.dense_model,
                sparse_model=self.embedder.sparse_model,
            )
            vectors.produced_at.CopyFrom(_now())
            if event.operation == events_pb2.DOCUMENT_OPERATION_UPSERT:
                for chunk in event.chunks:
                    sparse = embeddings.sparse[position]
                    vectors.chunks.append(
                        events_pb2.EmbeddedChunk(
                            chunk=chunk,
                            dense=embeddings.dense[position].tolist(),
                            sparse=common_pb2.SparseVector(indices=sparse.indices, values=sparse.values),
                        )
                    )
                    position += 1
            out.append((envelope.key or f"{event.tenant}/{event.doc_id}", vectors))
        self.producer.send_many(self.vectors_topic, out)
        log.info("embedded", events=len(batch), chunks=len(texts))


def _now() -> Timestamp:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    return stamp
