"""The example CNNs written as PyTorch modules whose state_dict keys are exactly attnc's weight keys, so
`model.state_dict()` (less BatchNorm's num_batches_tracked) is a weight file for the compiled program."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvBNReLU(nn.Module):
    """relu(batch_norm(conv2d(x, out, 3, padding = 1)))"""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv2d0 = nn.Conv2d(cin, cout, 3, padding=1)
        self.batch_norm0 = nn.BatchNorm2d(cout)

    def forward(self, x):
        return torch.relu(self.batch_norm0(self.conv2d0(x)))


class ChannelAttention(nn.Module):
    """CBAM channel attention: x · σ(MLP(avgpool x) + MLP(maxpool x))."""

    def __init__(self, channels, reduction):
        super().__init__()
        self.fc1 = nn.Linear(channels, channels // reduction)
        self.fc2 = nn.Linear(channels // reduction, channels)

    def forward(self, x):
        mlp = lambda z: self.fc2(torch.relu(self.fc1(z)))
        return x * torch.sigmoid(mlp(x.mean((2, 3))) + mlp(x.amax((2, 3))))[:, :, None, None]


class CBAM(nn.Module):
    """spatial_attention(channel_attention(x, reduction), kernel): the spatial part owns `conv`."""

    def __init__(self, channels, reduction, kernel):
        super().__init__()
        self.channel_attention0 = ChannelAttention(channels, reduction)
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2, bias=False)

    def forward(self, x):
        x = self.channel_attention0(x)
        stats = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
        return x * torch.sigmoid(self.conv(stats))


class NonLocal(nn.Module):
    """Embedded-Gaussian non-local block; the 1×1 convolutions are Linear layers over channels."""

    def __init__(self, channels, reduction):
        super().__init__()
        inner = channels // reduction
        self.theta, self.phi, self.g = (nn.Linear(channels, inner) for _ in range(3))
        self.out = nn.Linear(inner, channels)

    def forward(self, x):
        b, c, h, w = x.shape
        flat = x.flatten(2).transpose(1, 2)  # [B, N, C]
        p = torch.softmax(self.theta(flat) @ self.phi(flat).transpose(1, 2), dim=-1)
        return x + self.out(p @ self.g(flat)).transpose(1, 2).reshape(b, c, h, w)


class CNNSpatialAttention(nn.Module):
    """examples/cnn_spatial_attention.attn"""

    def __init__(self, c1=16, c2=32, classes=10):
        super().__init__()
        self.c1, self.a1 = ConvBNReLU(1, c1), CBAM(c1, 4, 7)
        self.c2, self.a2 = ConvBNReLU(c1, c2), CBAM(c2, 4, 7)
        self.logits = nn.Linear(c2, classes)

    def forward(self, image):
        x = F.max_pool2d(self.a1(self.c1(image)), 2)
        logits = self.logits(self.a2(self.c2(x)).mean((2, 3)))
        return {"logits": logits, "probs": torch.softmax(logits, -1)}


class CNNSelfAttention(nn.Module):
    """examples/cnn_self_attention.attn"""

    def __init__(self, c=16, classes=10):
        super().__init__()
        self.c1, self.c2 = ConvBNReLU(1, c), ConvBNReLU(c, 2 * c)
        self.nl = NonLocal(2 * c, 2)
        self.logits = nn.Linear(2 * c, classes)

    def forward(self, image):
        x = F.max_pool2d(self.c2(self.c1(image)), 2)
        return {"logits": self.logits(self.nl(x).mean((2, 3)))}


def randomize(model, generator):
    """Random weights and batch-norm statistics (PyTorch's fresh statistics would make batch norm trivial)."""
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            r = torch.randn(t.shape, generator=generator, dtype=t.dtype)
            if name.endswith("running_var"):
                t.copy_(r.abs() * 0.5 + 0.5)
            elif name.endswith("batch_norm0.weight"):
                t.copy_(1 + 0.2 * r)
            else:
                fan_in = t[0].numel() if t.dim() > 1 else 10
                t.copy_(r * fan_in ** -0.5)
    return model


def weights(model):
    return {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
