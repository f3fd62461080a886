"""The network: layers (OverlapPatchEmbed, efficient self-attention, Mix-FFN), the MiT backbone, SegFormer (head
+ model), the B0..B5 factories, parameter and FLOP counts, the amp policy, the losses."""
