"""The project's own synthetic demo dataset (no real posts, no shared data).

`write_demo_dataset` fills templates with random slots to make labeled X-style posts:
crypto scams (fake airdrops, wallet drainers, giveaways, DM-me recovery scams, pump promos,
some without any crypto word), crypto-topic talk (markets, ETF news, dev talk, some
mentioning "airdrop" innocently), and clean posts (news, sports, food, tech). Labels are
realistic taxonomy lists such as ["scam", "phishing", "topic_crypto"]. A few rows are
near-duplicates of others, as in real scraped data, but the splits never share a text: rows
with equal or near-duplicate normalized texts (`janitr.data.neardup`) form a group, and each
group lands in one split (the group-aware stratified assignment of `janitr.data.splits`), so an
evaluation on the demo data is as honest as one on real data. The same seed gives the same
files. It is meant for demos, tests and the CI chain, never for reporting model quality.
"""

from __future__ import annotations

import random
from pathlib import Path

from janitr.artifacts import write_lines
from janitr.data.records import dump_row
from janitr.errors import ConfigError

_COINS = ["BTC", "ETH", "SOL", "PEPE", "DOGE", "ARB", "$WIF", "$BONK", "XRP", "TON"]
_BRANDS = ["Binance", "MetaMask", "Phantom", "Coinbase", "Ledger", "Uniswap", "OpenSea"]
_LINKS = [
    "https://claim-{c}.xyz/r/{n}",
    "https://{c}-drop.io/?ref={n}",
    "bit.ly/{c}{n}",
    "https://wallet-verify-{c}.com",
    "https://t.me/{c}_official{n}",
]
_EMOJI = ["🚀", "🔥", "💰", "🎁", "✅", "⚡", "👇", "💎", ""]

_SCAM = [
    (
        ["scam", "phishing", "topic_crypto"],
        [
            "{e} {brand} airdrop is LIVE! Connect your wallet at {link} to claim {n} {coin} "
            "before it ends",
            "Claim your free {coin} now {e} only {n} spots left: {link}",
            "URGENT: your {brand} wallet will be suspended. Verify your seed phrase here {link}",
            "Eligible wallets can claim the {coin} airdrop today {e} {link} hurry",
        ],
    ),
    (
        ["scam", "giveaway", "topic_crypto"],
        [
            "{e} GIVEAWAY {e} sending {n} {coin} to everyone who likes + retweets + drops "
            "their address",
            "Celebrating {n}k followers: send 0.1 {coin} and get 1 {coin} back, no joke {e}",
            "I'm giving back to the community {e} first {n} people to reply with a wallet "
            "get {coin}",
        ],
    ),
    (
        ["scam", "recovery_scam"],
        [
            "Lost funds to a fake platform? DM me, I helped {n} people recover everything {e}",
            "Got scammed? Our recovery agent gets your money back in 24h, message me now",
            "hacked account or lost wallet access? dm for fast recovery, {n}% success rate",
        ],
    ),
    (
        ["scam", "recovery_scam", "topic_crypto"],
        [
            "Lost your {coin} to a rug? My recovery team traced {n} wallets this week, DM me {e}",
        ],
    ),
    (
        ["promo", "spam", "topic_crypto"],
        [
            "{coin} is about to 100x {e}{e} join the pump group before launch {link}",
            "Next {coin} gem loading {e} presale ends in {n} hours, don't miss it {link}",
            "stealth launch {e} {coin} liquidity locked, ape now {link}",
        ],
    ),
    (
        ["spam", "reply_spam"],
        [
            "Great post! Check my profile for {n}% daily returns {e}",
            "Work from home and earn ${n} per day, link in bio {e}",
            "nice! i made ${n} this week with this one trick, ask me how",
        ],
    ),
    (
        ["scam", "impersonation"],
        [
            "Official {brand} support here {e} please DM us your account details so we can fix it",
            "This is the {brand} team: your account was flagged, reply with your email to verify",
        ],
    ),
]
_TOPIC = [
    (
        ["topic_crypto"],
        [
            "{coin} broke resistance again, volume looks healthy but I'd wait for a retest",
            "Spot {coin} ETF inflows hit ${n}M today according to the filings",
            "Funding rates on {coin} perps are getting frothy, careful with leverage",
            "Shipped a fix for the {coin} indexer today, reorg handling was the tricky part",
            "Anyone else think the {brand} fee changes are bad for small traders?",
            "Wrote a thread on how {coin} staking yields actually work, no hype",
            "The {coin} airdrop criteria were published, looks like only early users qualify",
            "Gas fees are low today, good time to move {coin} between wallets",
        ],
    ),
    (
        ["topic_crypto", "topic_finance"],
        [
            "Macro view: rate cuts would help {coin} but equities move first",
            "{coin} correlation with the Nasdaq is back above {n}% this month",
        ],
    ),
    (
        ["topic_crypto", "topic_programming_dev"],
        [
            "Solidity tip: check-effects-interactions still prevents most reentrancy bugs",
            "Our {coin} SDK v{n} is out with typed RPC errors and better retries",
        ],
    ),
]
_CLEAN = [
    (
        ["clean", "topic_news"],
        [
            "City council approves {n} new bike lanes after a long debate",
            "Heavy rain expected this weekend, officials advise checking travel updates",
            "The museum reopens on Monday after a {n}-month renovation",
        ],
    ),
    (
        ["clean", "topic_sports"],
        [
            "What a finish! {n} points in the last quarter, incredible game",
            "Our keeper saved two penalties tonight, unreal {e}",
            "Marathon training week {n}: legs are tired but the pace is improving",
        ],
    ),
    (
        ["clean", "topic_food_drink"],
        [
            "Made sourdough for the first time, crumb is not perfect but it tastes great",
            "This ramen place downtown is worth the {n}-minute wait {e}",
        ],
    ),
    (
        ["clean", "topic_technology"],
        [
            "My laptop battery finally lasts a full day after the update",
            "Switched to a mechanical keyboard, typing feels so much better",
            "Wallet app redesign looks clean, the new dark mode is great",
        ],
    ),
    (
        ["clean"],
        [
            "Happy birthday to my best friend, {n} years of chaos {e}",
            "Sunday plans: coffee, a long walk and zero notifications",
            "Free tickets to the school play if anyone wants them, just ask",
        ],
    ),
]
_SHARES = [(_SCAM, 0.35), (_TOPIC, 0.3), (_CLEAN, 0.35)]
# Openers and closers shared by every kind, so that the words around a template say little
# about its class and two rows from one template are rarely near-duplicates.
_OPENERS = [
    "",
    "",
    "ok so",
    "honestly,",
    "update:",
    "PSA:",
    "quick one:",
    "not gonna lie,",
    "morning all,",
    "reminder:",
    "just saw this:",
    "fyi",
    "wow.",
    "breaking:",
    "thread:",
    "hot take:",
    "real talk:",
    "heads up,",
    "lol",
    "today:",
]
_CLOSERS = [
    "",
    "",
    "",
    "what do you think?",
    "more soon",
    "link below",
    "can't believe it",
    "see you tomorrow",
    "stay safe out there",
    "full details in the replies",
    "tag a friend",
    "share if you agree",
    "not financial advice",
    "no joke",
    "thanks for reading",
    "wild times",
    "big week ahead",
    "details tbd",
    "retweet for reach",
    "posting from my phone sorry for typos",
    "day {n} of this",
]


def _fill(template: str, rng: random.Random) -> str:
    coin = rng.choice(_COINS)
    link = rng.choice(_LINKS).format(c=coin.strip("$").lower(), n=rng.randint(1, 999))
    n = rng.choice([3, 5, 7, 10, 12, 20, 30, 48, 50, 100, 250, 1000])
    body = template.format(
        coin=coin, brand=rng.choice(_BRANDS), link=link, n=n, e=rng.choice(_EMOJI)
    )
    closer = rng.choice(_CLOSERS).format(n=rng.randint(2, 400))
    text = f"{rng.choice(_OPENERS)} {body} {closer}"
    if rng.random() < 0.3:
        text = text.lower()
    if rng.random() < 0.15:
        text += " " + rng.choice(["#crypto", "#web3", "#news", "lol", "🙏", "thoughts?", "#NFA"])
    return " ".join(text.split())


def _near_dup(text: str, rng: random.Random) -> str:
    """A near-duplicate: one or two characters changed or appended."""
    if rng.random() < 0.5:
        return text + rng.choice(["!", " !!", ".", " 🔥"])
    pos = rng.randrange(len(text))
    return text[:pos] + rng.choice("xyz0") + text[pos + 1 :]


def demo_rows(*, rows: int = 600, seed: int = 0) -> list[dict]:
    """Generate `rows` labeled synthetic rows (ids `demo-00000`...), ~3% near-duplicates."""
    rng = random.Random(seed)
    out: list[dict] = []
    groups, weights = zip(*_SHARES, strict=True)
    for i in range(rows):
        if out and rng.random() < 0.03:
            base = rng.choice(out)
            out.append(
                {
                    "id": f"demo-{i:05d}",
                    "text": _near_dup(base["text"], rng),
                    "labels": list(base["labels"]),
                    "platform": "x",
                    "source": "synthetic",
                }
            )
            continue
        kinds = rng.choices(groups, weights=weights)[0]
        labels, templates = rng.choice(kinds)
        out.append(
            {
                "id": f"demo-{i:05d}",
                "text": _fill(rng.choice(templates), rng),
                "labels": list(labels),
                "platform": "x",
                "source": "synthetic",
            }
        )
    return out


#: Shares of the labeled demo rows per split file.
DEMO_RATIOS: dict[str, float] = {"train": 0.75, "valid": 0.15, "calib": 0.10}


def split_groups(data: list[dict], *, seed: int) -> dict[str, list[dict]]:
    """Rows per split (`DEMO_RATIOS`), duplicate groups kept whole, stratified by labels.

    Rows keep their generation order inside each split.
    """
    import numpy as np

    from janitr.data.neardup import duplicate_groups
    from janitr.data.normalize import normalize_text
    from janitr.data.splits import assign_groups

    group = np.asarray(duplicate_groups([normalize_text(r["text"]) for r in data]), dtype=np.int64)
    split = assign_groups([tuple(r["labels"]) for r in data], group, DEMO_RATIOS, seed)
    names = list(DEMO_RATIOS)
    parts: dict[str, list[dict]] = {name: [] for name in names}
    for row, k in zip(data, split.tolist(), strict=True):
        parts[names[k]].append(row)
    return parts


def write_demo_dataset(out_dir: str | Path, *, rows: int = 600, seed: int = 0) -> Path:
    """Write `train.jsonl` (~75%), `valid.jsonl` (~15%), `calib.jsonl` (~10%) and an
    `unlabeled.jsonl` (rows//2 rows without labels) of synthetic posts into `out_dir`.

    No text (exact or near-duplicate) is in two labeled files: see `split_groups`.

    Returns:
        `out_dir`.

    Raises:
        ConfigError: if `rows` < 20.
    """
    if rows < 20:
        raise ConfigError(f"--rows: expected at least 20, found {rows}")
    out = Path(out_dir)
    data = demo_rows(rows=rows, seed=seed)
    parts = split_groups(data, seed=seed)
    for name, part in parts.items():
        write_lines(out / f"{name}.jsonl", (dump_row(r) for r in part))
    unlabeled = demo_rows(rows=max(rows // 2, 1), seed=seed + 1_000_003)
    write_lines(out / "unlabeled.jsonl", (
        dump_row({"id": f"demo-u-{i:05d}", "source": "synthetic", "text": r["text"]})
        for i, r in enumerate(unlabeled)
    ))  # fmt: skip
    return out
