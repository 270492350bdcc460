"""Tests for the network and how it is assembled with an output layer."""

import handmade_data
import keras
import numpy as np
import pytest

from components.config import hparams as hparams_lib
from components.config import model_options
from components.features import encodings
from components.model import network as model_lib
from schema import experiment as experiment_lib

_EXPERIMENT = experiment_lib.parse_experiment(
  handmade_data.THREE_ROUND_EXPERIMENT
)
_SIGNS = experiment_lib.selection_signs(_EXPERIMENT)
_HP = hparams_lib.HParams(
  num_conv_layers=2, num_fc_layers=1, conv_widths=[4, 4]
)


def _inputs(model, batch=5, seed=0):
  rng = np.random.default_rng(seed)
  return {
    name: rng.normal(size=(batch,) + tuple(t.shape[1:])).astype(np.float32)
    for name, t in model.input.items()
  }


@pytest.mark.parametrize(
  'output_layer',
  [
    'FULLY_OBSERVED',
    'LATENT_AFFINITY',
    'LATENT_WITH_DEPS',
    'LATENT_WITH_PRED_DEPS',
    'LATENT_WITH_CROSS_DEPS',
  ],
)
def test_every_output_layer_builds_a_keras3_model(output_layer):
  options = model_options.ModelOptions(
    output_layer=output_layer,
    additional_outputs=('partition_function',),
    input_features=('SEQUENCE_ONE_HOT', 'SEQUENCE_KMER_COUNT'),
    kmer_k_max=2,
    affinity_target_map={'target': ['r1_pos', 'r2_pos']},
  )
  model = model_lib.build_model(_HP, _EXPERIMENT, options, _SIGNS)
  assert isinstance(model, keras.Model)
  assert type(model).__module__.startswith('keras.src')
  expected_inputs = {encodings.ONE_HOT_FEATURE, encodings.KMER_FEATURE}
  if output_layer.startswith('LATENT_WITH'):
    expected_inputs.add(model_lib.PARENT_INPUT)
  assert set(model.input) == expected_inputs
  assert model.input[encodings.KMER_FEATURE].shape[1] == 20
  out = model(_inputs(model))
  assert tuple(out['counts'].shape) == (5, 3 + 1)  # 3 reads + 1 output.
  molecules = 1 if output_layer == 'FULLY_OBSERVED' else 2
  assert tuple(out['affinity'].shape) == (5, molecules)


def test_kmer_only_network_has_no_conv_layers():
  options = model_options.ModelOptions(input_features=('SEQUENCE_KMER_COUNT',))
  hp = hparams_lib.HParams(num_conv_layers=0, num_fc_layers=2)
  model = model_lib.build_model(hp, _EXPERIMENT, options, _SIGNS)
  assert set(model.input) == {encodings.KMER_FEATURE}
  with pytest.raises(ValueError, match='conv layers need the SEQUENCE_ONE_HOT'):
    model_lib.build_model(_HP, _EXPERIMENT, options, _SIGNS)


def test_fully_observed_rejects_a_map_naming_unknown_reads():
  options = model_options.ModelOptions(
    output_layer='FULLY_OBSERVED', affinity_target_map={'target': ['r9']}
  )
  with pytest.raises(ValueError, match=r"not training targets: \['r9'\]"):
    model_lib.build_model(_HP, _EXPERIMENT, options, _SIGNS)


def test_dropout_precedes_every_fc_layer_including_the_output():
  hp = hparams_lib.HParams(
    num_conv_layers=0, num_fc_layers=2, dropouts=[0.1, 0.2, 0.3]
  )
  net = model_lib.build_network(hp, 10, 2)
  kinds = [type(layer).__name__ for layer in net.layers]
  rates = [
    layer.rate
    for layer in net.layers
    if isinstance(layer, keras.layers.Dropout)
  ]
  assert rates == [0.1, 0.2, 0.3]
  assert kinds[-2:] == ['Dropout', 'Dense']


def test_infeasible_conv_stacks_are_rejected():
  hp = hparams_lib.HParams(
    num_conv_layers=1, conv_strides=[2], conv_rates=[2], conv_widths=[4]
  )
  assert 'stride 2 with dilation rate 2' in model_lib.infeasibility(hp, 40)
  hp = hparams_lib.HParams(
    num_conv_layers=2, conv_strides=[8, 1], conv_widths=[4, 8]
  )
  assert 'shorter than the next width 8' in model_lib.infeasibility(hp, 40)
  with pytest.raises(ValueError, match='infeasible network'):
    model_lib.build_network(hp, 40, 2)


def test_hparams_reject_unknown_and_inconsistent_values():
  with pytest.raises(ValueError, match='unknown hyper-parameters'):
    hparams_lib.HParams.from_dict({'learning_rate': 0.1})
  with pytest.raises(ValueError, match='dropouts needs 2 values'):
    hparams_lib.HParams(num_fc_layers=1, dropouts=[0.1])
  with pytest.raises(ValueError, match='nonlinearity'):
    hparams_lib.HParams(nonlinearity='swish')


def test_both_optimizers_are_really_selectable():
  sgd = model_lib.make_optimizer(
    hparams_lib.HParams(optimizer='momentum', momentum=0.5)
  )
  adam = model_lib.make_optimizer(hparams_lib.HParams(optimizer='adam'))
  assert isinstance(sgd, keras.optimizers.SGD) and sgd.momentum == 0.5
  assert isinstance(adam, keras.optimizers.Adam)


def test_latent_model_serves_one_combined_affinity_for_a_confounded_pair():
  """Serum as background wherever the target is: one latent, target's signs."""
  from components.training import run_setup

  experiment = experiment_lib.parse_experiment("""
    sequence_length: 12
    rounds { key: "lib" value { method: RANDOM positive_reads { name: "lib" } } }
    rounds { key: "r1" value { input: "lib" method: PARTICLE_DISPLAY
      target_concentrations { key: "target" value: 10 }
      background_concentrations { key: "serum" value: 10 }
      positive_reads { name: "r1_pos" } negative_reads { name: "r1_neg" } } }
  """)
  options = model_options.ModelOptions(output_layer='LATENT_AFFINITY')
  signs = run_setup.affinity_axes(experiment, options.output_layer)
  assert model_lib.affinity_molecules(options.output_layer, options, signs) == [
    'target_vs_serum'
  ]
  model = model_lib.build_model(_HP, experiment, options, signs)
  out = model(_inputs(model))
  assert out['affinity'].shape == (5, 1)
  layer = next(
    x for x in model.layers if x.name == options.output_layer.lower()
  )
  # The target's signs: +1 on its positive pool, flipped on the negative.
  expected = {'r1_pos': 1.0, 'r1_neg': -1.0}
  assert np.asarray(layer.signs).tolist() == [
    [expected[r] for r in signs.reads]
  ]
  fully = run_setup.affinity_axes(experiment, 'FULLY_OBSERVED')
  assert fully.molecules == ('target', 'serum')
