"""The pose network: SpatialNet Fusion and the pooling layer, presets, weight files, heatmap decoding."""
