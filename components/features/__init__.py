"""Features stage: sequence encodings, normalisers and ViennaRNA structure features."""
