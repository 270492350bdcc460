"""Message classes from a hand-built FileDescriptorProto, in a private pool.

The experiment proto and the workers' tf.Example are rebuilt in Python
rather than compiled; a pool of their own keeps them from clashing with
(or depending on) the generated classes of TensorFlow or the original.
"""

from typing import Dict

from google.protobuf import descriptor_pb2
from google.protobuf import descriptor_pool
from google.protobuf import message_factory


def message_classes(
  file_descriptor: descriptor_pb2.FileDescriptorProto,
) -> Dict[str, type]:
  """Top-level message name -> message class of `file_descriptor`."""
  pool = descriptor_pool.DescriptorPool()
  pool.Add(file_descriptor)
  factory = message_factory.MessageFactory(pool)
  package = file_descriptor.package
  return {
    message.name: factory.GetPrototype(
      pool.FindMessageTypeByName(f'{package}.{message.name}')
    )
    for message in file_descriptor.message_type
  }
