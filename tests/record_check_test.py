"""Broken TFRecord files are found and named, record by record."""

import glob
import gzip
import os

import handmade_data
import pytest

from components.data import record_check


@pytest.fixture
def record_file(tmp_path):
  directory = handmade_data.write_dataset(str(tmp_path / 'data'))
  [path] = glob.glob(os.path.join(directory, '*.tfrecord*'))
  return path


def test_a_clean_file_passes(record_file):
  assert record_check.check_file(record_file) is None
  assert record_check.first_silent_problem([record_file]) is None


def test_a_truncated_gzip_file_is_named_with_its_last_good_record(
  record_file,
):
  data = open(record_file, 'rb').read()
  total = sum(1 for _ in _records(record_file))
  with open(record_file, 'wb') as f:
    f.write(data[: len(data) // 2])
  bad = record_check.check_file(record_file)
  assert bad is not None and bad.path == record_file
  assert 0 < bad.record < total
  assert record_file in bad.describe()
  assert 'truncated or corrupted' in bad.describe()


def test_every_cut_of_a_gzip_file_is_found(tmp_path):
  # TensorFlow's reader alone misses cuts that fall between two records.
  # Six records keep a cut at every byte affordable: each check opens a
  # TensorFlow reader (about 25 ms) whatever the file's size.
  directory = handmade_data.write_dataset(
    str(tmp_path / 'data'), num_examples=6
  )
  [record_file] = glob.glob(os.path.join(directory, '*.tfrecord*'))
  data = open(record_file, 'rb').read()
  cut_file = tmp_path / 'cut.tfrecord.gz'
  missed = []
  for cut in range(1, len(data)):
    cut_file.write_bytes(data[:cut])
    if record_check.check_file(str(cut_file)) is None:
      missed.append(cut)
    # The check before ingesting finds the same cut and names its record.
    quick = record_check.first_silent_problem([str(cut_file)])
    if quick != record_check.check_file(str(cut_file)):
      missed.append(('before ingesting', cut))
  assert missed == []


def test_flipped_bytes_and_a_text_file_are_found(tmp_path, record_file):
  data = bytearray(open(record_file, 'rb').read())
  for i in range(len(data) // 3, len(data) // 3 + 20):
    data[i] ^= 0xFF
  with open(record_file, 'wb') as f:
    f.write(bytes(data))
  assert record_check.check_file(record_file) is not None
  text = tmp_path / 'notes.tfrecord.gz'
  text.write_text('not a tfrecord\n' * 50)
  bad = record_check.check_file(str(text))
  assert bad is not None and bad.record == 0


def test_records_that_are_not_examples_and_empty_files(tmp_path):
  import tensorflow as tf

  path = str(tmp_path / 'junk.tfrecord')
  with tf.io.TFRecordWriter(path) as writer:
    writer.write(b'\xff\xff\xff not a proto')
  bad = record_check.check_file(path)
  assert bad.record == 0 and 'not a tf.Example' in bad.reason
  empty = tmp_path / 'empty.tfrecord.gz'
  with gzip.open(empty, 'wb'):
    pass
  assert 'no records' in record_check.check_file(str(empty)).reason


def test_what_beam_raises_itself_is_left_to_beam_and_recognised(tmp_path):
  import tensorflow as tf

  path = str(tmp_path / 'junk.tfrecord.gz')
  with tf.io.TFRecordWriter(path, 'GZIP') as writer:
    writer.write(b'\xff\xff\xff not a proto')
  # A whole stream of records that are not tf.Examples: ImportExampleGen's
  # parse fails loudly, and the runner recognises the error as a read error
  # to name the file and record.
  assert record_check.first_silent_problem([path]) is None
  with pytest.raises(Exception) as parse_error:
    tf.train.Example.FromString(b'\xff\xff\xff not a proto')
  assert record_check.is_read_error(parse_error.value)
  assert 'not a tf.Example' in record_check.first_bad_record([path]).reason
  assert not record_check.is_read_error(ValueError('a model error'))


def test_empty_files_are_found_before_ingesting(tmp_path):
  empty_gzip = tmp_path / 'a.tfrecord.gz'
  with gzip.open(empty_gzip, 'wb'):
    pass
  empty_plain = tmp_path / 'b.tfrecord'
  empty_plain.write_bytes(b'')
  for path in (empty_gzip, empty_plain):
    bad = record_check.first_silent_problem([str(path)])
    assert bad.path == str(path) and 'no records' in bad.reason


def test_first_bad_record_walks_files_in_order(tmp_path, record_file):
  broken = tmp_path / 'b.tfrecord.gz'
  broken.write_text('x')
  assert record_check.first_bad_record([record_file]) is None
  assert record_check.first_bad_record([str(broken), record_file]).path == (
    str(broken)
  )


def _records(path):
  import tensorflow as tf

  return tf.data.TFRecordDataset(path, compression_type='GZIP')
