"""Avro for simfleet: the schema catalog, the vectorised encoder and the decoder.

- ``catalog``: ``SchemaSet`` (every record schema by topic, name and fingerprint) and the
  field types the engine generates into;
- ``encoder``: columns -> framed Avro bytes (single-object or Confluent wire format);
- ``decoder``: framed bytes -> dicts, for the edges, and ``json_default`` to print them.
"""

from simfleet.codec.catalog import (
    TOPIC_PROPERTY,
    FieldType,
    SchemaEntry,
    SchemaSet,
    field_type,
    schema_fingerprint,
)
from simfleet.codec.decoder import Decoder, json_default
from simfleet.codec.encoder import (
    CONFLUENT_MAGIC,
    SINGLE_OBJECT_MAGIC,
    RecordEncoder,
    TopicEncoder,
    confluent_prefix,
    encoders_for,
    records_to_columns,
    registry_client,
    single_object_prefix,
)

__all__ = [
    "CONFLUENT_MAGIC",
    "SINGLE_OBJECT_MAGIC",
    "TOPIC_PROPERTY",
    "Decoder",
    "FieldType",
    "RecordEncoder",
    "SchemaEntry",
    "SchemaSet",
    "TopicEncoder",
    "confluent_prefix",
    "encoders_for",
    "field_type",
    "json_default",
    "records_to_columns",
    "registry_client",
    "schema_fingerprint",
    "single_object_prefix",
]
