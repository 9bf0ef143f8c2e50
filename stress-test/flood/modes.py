"""The flood modes (the seeds' stress suite, same names and sizes) and the datagrams they send.

| mode     | schedule                                   | datagrams |
|----------|--------------------------------------------|-----------|
| burst    | 50k datagrams as fast as the sender can    | real client Initials |
| constant | 10k/s for 10 s                             | real client Initials |
| ramp     | 0 -> 50k/s linearly over 15 s              | real client Initials |
| chaos    | 10 s, the rate changes every 0.5 s (0-30k/s, seeded) | a mix: Initials, truncated Initials, unknown versions, short headers for unknown CIDs, random bytes, empty |
| garbage  | 30k datagrams as fast as the sender can    | random bytes, 1-1400 long, random first byte |
| garbage-constant | 10k/s for 10 s (not in the default run: a diagnostic beside `constant`) | random bytes |

The "real client Initials" are a pool of distinct aioquic client Initials (each the first
datagram of a fresh connection attempt, never continued), replayed round robin: a replay
of an Initial that became a connection is routed to it. --quick scales counts and
durations by 0.1.
"""
import random
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Mode:
    name: str
    count: int
    duration: float  # 0: none (count-bound)
    rate: float = 0.0  # constant rate, /s (0: as fast as possible)
    ramp_to: float = 0.0  # ramp from 0 to this rate over `duration`
    chaos: bool = False

    def scaled(self, s):
        return replace(self, count=max(1, int(self.count * s)), duration=self.duration * s if self.duration else 0.0)

    def due(self, e):
        """Datagrams that should have been sent e seconds in."""
        if self.ramp_to:
            return int(self.ramp_to * e * e / (2 * self.duration))
        if self.chaos:
            # Piecewise constant rates, seeded: the same schedule every run.
            rng = random.Random(7)
            total, t = 0.0, 0.0
            while t < e:
                r = rng.choice([0, 2000, 5000, 10000, 20000, 30000])
                step = min(0.5, e - t)
                total += r * step
                t += 0.5
            return int(total)
        if self.rate:
            return int(self.rate * e)
        return self.count

    def offered_rate(self, e):
        """The schedule's rate at e seconds (for plots); None when as fast as possible."""
        if self.ramp_to:
            return self.ramp_to * e / self.duration
        if self.rate:
            return self.rate
        return None


MODES = {
    "burst": Mode("burst", 50_000, 0.0),
    "constant": Mode("constant", 100_000, 10.0, rate=10_000),
    "ramp": Mode("ramp", 375_000, 15.0, ramp_to=50_000),
    "chaos": Mode("chaos", 300_000, 10.0, chaos=True),
    "garbage": Mode("garbage", 30_000, 0.0),
    # Not in the default run: a diagnostic that separates the receive-side cost of a flood
    # from the Retries an Initial flood makes the server send (same rate as `constant`).
    "garbage-constant": Mode("garbage-constant", 100_000, 10.0, rate=10_000),
}
ORDER = ["burst", "constant", "ramp", "chaos", "garbage"]


def packet_source(mode, initials, seed=0):
    """A function returning the next datagram of `mode`."""
    rng = random.Random(seed)
    if mode.startswith("garbage"):
        pool = [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 1400))) for _ in range(4096)]
    elif mode == "chaos":
        pool = []
        for i in range(4096):
            k = rng.random()
            ini = initials[i % len(initials)]
            if k < 0.30:
                pool.append(ini)
            elif k < 0.40:
                pool.append(ini[:rng.randint(20, 600)])  # truncated Initial
            elif k < 0.55:
                v = bytearray(ini)
                v[1:5] = bytes([0x1a, 0x2a, 0x3a, 0x4a])  # unknown version: Version Negotiation
                pool.append(bytes(v))
            elif k < 0.75:
                pool.append(bytes([0x40 | rng.getrandbits(6)]) + rng.randbytes(rng.randint(20, 1200)))  # short header, unknown CID
            elif k < 0.97:
                pool.append(rng.randbytes(rng.randint(1, 1400)))
            else:
                pool.append(b"")
    else:
        pool = list(initials)
    state = [0]

    def nxt():
        i = state[0]
        state[0] = i + 1
        return pool[i % len(pool)]

    return nxt
