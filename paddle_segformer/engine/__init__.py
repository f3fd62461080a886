"""Training-loop pieces around PaddleSeg's loop: the divergence guard, loss scaling, rank agreement, the
learning-rate schedule, optimizer parameter groups."""
