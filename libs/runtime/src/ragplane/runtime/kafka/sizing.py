"""Events under the broker's record size limit: an event too big for one record is split along its largest
repeated field (a ChunksEvent's or VectorsEvent's chunks); every part keeps the event's other fields (tenant,
version, batch position with the version's total chunk count), so consumers see the same document version."""

from __future__ import annotations

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from ragplane.runtime.errors import InvalidArgument

# Tag and length prefix of one element of a repeated message field: at most 2 + 5 bytes.
_ELEMENT_OVERHEAD = 8


class EventTooLarge(InvalidArgument):
    """One item of an event (or an event without a repeated field) is over the record size limit; not retriable."""

    def __init__(self, field: str, size: int, budget: int) -> None:
        super().__init__(
            field, f"{size} bytes, over the {budget}-byte limit of one Kafka record (RAGPLANE_KAFKA_MAX_MESSAGE_BYTES)"
        )
        self.size = size
        self.budget = budget


def _largest_repeated(message: Message) -> FieldDescriptor | None:
    """The repeated message field holding the most bytes, or None when there is none with two or more items."""
    best, best_size = None, -1
    for descriptor, value in message.ListFields():
        if descriptor.type != FieldDescriptor.TYPE_MESSAGE or not descriptor.is_repeated or len(value) < 2:
            continue
        if descriptor.message_type.GetOptions().map_entry:
            continue
        size = sum(item.ByteSize() for item in value)
        if size > best_size:
            best, best_size = descriptor, size
    return best


def split_to_fit(message: Message, budget: int) -> list[Message]:
    """``message`` as one or more messages of at most ``budget`` serialized bytes each (in order).

    Raises:
        EventTooLarge: a single item, or an event with nothing to split, is over ``budget``.
    """
    if message.ByteSize() <= budget:
        return [message]
    name = message.DESCRIPTOR.full_name
    field = _largest_repeated(message)
    if field is None:
        raise EventTooLarge(name, message.ByteSize(), budget)
    shell = type(message)()
    shell.CopyFrom(message)
    shell.ClearField(field.name)
    room = budget - shell.ByteSize()
    if room <= 0:
        raise EventTooLarge(name, shell.ByteSize(), budget)
    groups: list[list[Message]] = [[]]
    used = 0
    for index, item in enumerate(getattr(message, field.name)):
        size = item.ByteSize() + _ELEMENT_OVERHEAD
        if size > room:
            raise EventTooLarge(f"{name}.{field.name}[{index}]", size, budget)
        if groups[-1] and used + size > room:
            groups.append([])
            used = 0
        groups[-1].append(item)
        used += size
    parts = []
    for group in groups:
        part = type(message)()
        part.CopyFrom(shell)
        getattr(part, field.name).extend(group)
        parts.append(part)
    return parts
