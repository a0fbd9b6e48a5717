"""Sequence classification with an LSTM."""

from __future__ import annotations

from fastdl import nn
from fastdl.models._checks import positive_int
from fastdl.tensor import Tensor


class LSTMClassifier(nn.Module):
    """An ``nn.LSTM`` (batch first) read out by a linear layer on the last layer's final
    hidden state: input ``(N, L, input_size)`` -> logits ``(N, num_classes)``.

    Example::

        net = LSTMClassifier(input_size=8, hidden_size=64, num_classes=10)
        logits = net(fastdl.randn(32, 8, 8))   # 32 sequences of 8 steps of 8 features
    """

    def __init__(
        self, input_size: int, hidden_size: int = 64, num_classes: int = 10, num_layers: int = 1
    ) -> None:
        super().__init__()
        for name, value in (
            ("input_size", input_size),
            ("hidden_size", hidden_size),
            ("num_classes", num_classes),
            ("num_layers", num_layers),
        ):
            positive_int("LSTMClassifier", name, value)
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 3:
            raise ValueError(
                f"LSTMClassifier: expected input of shape (batch, steps, features), got "
                f"{tuple(x.shape)}"
            )
        _, (h_n, _) = self.lstm(x)
        return self.fc(h_n[-1])


def lstm_classifier(
    input_size: int = 8, hidden_size: int = 64, num_classes: int = 10, num_layers: int = 1
) -> LSTMClassifier:
    """An ``LSTMClassifier``; the defaults read 8x8 digits as 8 steps of 8 pixels.

    Example::

        net = lstm_classifier()   # the model of ``fastdl train --model lstm``
    """
    return LSTMClassifier(input_size, hidden_size, num_classes, num_layers)
