"""tf.Example without TensorFlow: a wire-compatible message class.

The Beam workers of StructureFeatures (which read one bytes feature and add
five float features) and of FastqExampleGen (which build every example)
need tf.Example and nothing else of TensorFlow. Importing TensorFlow for
`tf.train.Example` costs each worker about 4 s of start-up (and TFX's
imports as much again), more than folding 5,000 40-mers. This module builds the same messages as
`tensorflow/core/example/{example,feature}.proto` (same field numbers and
types, proto3 packing) in a private descriptor pool, so bytes written by one
parse with the other (tests check both ways) and nothing registers under
TensorFlow's names.

Pass serialized bytes between Beam stages, never these messages: Beam's
fallback coder pickles the dynamically made class with every element
(5.7 ms per message, against 8 us for a `tf.train.Example`).
"""

from google.protobuf import descriptor_pb2

from schema import protos

_PACKAGE = 'aptamer_tfx.wire'
_F = descriptor_pb2.FieldDescriptorProto


def _field(name, number, type_, label=_F.LABEL_OPTIONAL, type_name=None):
  field = _F(name=name, number=number, type=type_, label=label, json_name=name)
  if type_name:
    field.type_name = f'.{_PACKAGE}.{type_name}'
  return field


def _list_message(name, value_type):
  return descriptor_pb2.DescriptorProto(
    name=name, field=[_field('value', 1, value_type, _F.LABEL_REPEATED)]
  )


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
  feature = descriptor_pb2.DescriptorProto(
    name='Feature',
    oneof_decl=[descriptor_pb2.OneofDescriptorProto(name='kind')],
    field=[
      _field('bytes_list', 1, _F.TYPE_MESSAGE, type_name='BytesList'),
      _field('float_list', 2, _F.TYPE_MESSAGE, type_name='FloatList'),
      _field('int64_list', 3, _F.TYPE_MESSAGE, type_name='Int64List'),
    ],
  )
  for field in feature.field:
    field.oneof_index = 0
  entry = descriptor_pb2.DescriptorProto(
    name='FeatureEntry',
    field=[
      _field('key', 1, _F.TYPE_STRING),
      _field('value', 2, _F.TYPE_MESSAGE, type_name='Feature'),
    ],
    options=descriptor_pb2.MessageOptions(map_entry=True),
  )
  features = descriptor_pb2.DescriptorProto(
    name='Features',
    field=[
      _field(
        'feature',
        1,
        _F.TYPE_MESSAGE,
        _F.LABEL_REPEATED,
        type_name='Features.FeatureEntry',
      )
    ],
    nested_type=[entry],
  )
  example = descriptor_pb2.DescriptorProto(
    name='Example',
    field=[_field('features', 1, _F.TYPE_MESSAGE, type_name='Features')],
  )
  return descriptor_pb2.FileDescriptorProto(
    name='aptamer_tfx/wire/example.proto',
    package=_PACKAGE,
    syntax='proto3',
    message_type=[
      _list_message('BytesList', _F.TYPE_BYTES),
      _list_message('FloatList', _F.TYPE_FLOAT),
      _list_message('Int64List', _F.TYPE_INT64),
      feature,
      features,
      example,
    ],
  )


_CLASSES = protos.message_classes(_file_descriptor())
Example = _CLASSES['Example']
Features = _CLASSES['Features']
Feature = _CLASSES['Feature']
FloatList = _CLASSES['FloatList']
