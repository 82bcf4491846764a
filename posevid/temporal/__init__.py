"""Between frames: optical flow, warping and pooling heatmaps along flow tracks, shot cuts."""
