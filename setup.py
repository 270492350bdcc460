"""aptamer-tfx: a TFX pipeline that learns DNA-aptamer binding affinity."""

import setuptools

setuptools.setup(
  name='aptamer-tfx',
  version='0.1.0',
  description=(
    'TFX pipeline learning DNA-aptamer binding affinity from '
    'selection sequencing counts.'
  ),
  python_requires='>=3.10,<3.11',
  packages=setuptools.find_packages(
    include=[
      'pipeline',
      'pipeline.*',
      'components',
      'components.*',
      'schema',
      'schema.*',
      'simulation',
      'simulation.*',
      'tools',
      'tools.*',
    ]
  ),
  # Exact versions live in constraints.txt; install with `-c constraints.txt`.
  install_requires=[
    'tfx[kfp]==1.16.0',
    'tensorflow==2.16.2',
    'keras==3.6.0',
    'tf-keras==2.16.0',
    'keras-tuner==1.4.7',
    'apache-beam[gcp]==2.59.0',
    'tensorflow-transform==1.16.0',
    'tensorflow-model-analysis==0.47.1',
    'tensorflow-data-validation==1.16.1',
    'tfx-bsl==1.16.1',
    'ml-metadata==1.16.0',
    'kfp==2.5.0',
    'kfp-pipeline-spec==0.2.2',
    'numpy==1.26.4',
    'protobuf==3.20.3',
    'viennarna==2.7.2',
    # C++ Levenshtein distance for edit-distance clustering.
    'rapidfuzz==3.14.5',
    # ISA-L gzip decompression for FASTQ, about 3x zlib's speed.
    'isal==1.9.1',
    'scipy==1.12.0',
    'pyarrow==10.0.1',
  ],
  extras_require={'test': ['cel-python', 'pytest', 'pytest-xdist', 'ruff']},
  entry_points={
    'console_scripts': [
      'aptamer-simulate=simulation.cli:main',
      'aptamer-tfx=tools.cli:main',
    ],
  },
)
