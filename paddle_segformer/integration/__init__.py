"""PaddleSeg: the registry, the compatibility fixes for PaddleSeg 2.8 on Paddle 3, configs of PaddleSeg 2.4-2.7,
config loading."""
