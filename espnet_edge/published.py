"""Published accuracy as typed records: what the authors report for a checkpoint, and where a reader opens it.

Every figure in the zoo (``ModelEntry.published``) is a ``Published`` record whose ``source`` names the
repository, the file (``path``) or issue (``issue``) and the commit, so ``espnet-edge models NAME`` and
``espnet-edge eval`` can print "published X (source)" beside "measured Y". Pure data, no torch.
"""

from typing import NamedTuple, Optional, Tuple

# what a figure measures; the key is the one eval's result JSON uses for the measured value
METRICS = (
    ("miou", "mIoU"),                       # class-wise mean IoU
    ("category_miou", "category mIoU"),     # Cityscapes' 7 categories
    ("class_average", "class average"),     # mean of per-class recall (the authors' "Class avg.")
)
METRIC_NAMES = dict(METRICS)
# how the figure treats pixels labelled void/ignore: "standard" leaves them out; "void-counted" counts a
# void pixel predicted as class c as a false positive of c (the ESPNet authors' CamVid figures; eval
# --count-void)
CONVENTIONS = ("standard", "void-counted")


class Source(NamedTuple("Source", [
        ("repo", str), ("commit", str), ("path", Optional[str]), ("issue", Optional[int]),
        ("date", Optional[str]), ("quote", Optional[str])])):
    """Where a figure is printed: a file at a commit (``path``), or an issue comment (``issue``, with the
    comment's ``date`` and ``commit`` = the repository's head when the comment was written)."""
    __slots__ = ()

    @property
    def url(self):
        if self.issue is not None:
            return "https://github.com/{}/issues/{}".format(self.repo, self.issue)
        return "https://github.com/{}/blob/{}/{}".format(self.repo, self.commit, self.path)

    def cite(self):
        """Short form for tables: 'sacmehta/ESPNet README.md @ afe71c3' / 'sacmehta/ESPNet issue #9 (2018-05-15)'."""
        if self.issue is not None:
            return "{} issue #{} ({})".format(self.repo, self.issue, self.date)
        return "{} {} @ {}".format(self.repo, self.path, self.commit[:7])

    def to_dict(self):
        data = dict((k, v) for k, v in self._asdict().items() if v is not None)
        data["url"] = self.url
        return data


def file_source(repo, commit, path, quote=None):
    return Source(repo=repo, commit=commit, path=path, issue=None, date=None, quote=quote)


def issue_source(repo, commit, issue, date, quote):
    return Source(repo=repo, commit=commit, path=None, issue=int(issue), date=date, quote=quote)


class Published(NamedTuple("Published", [
        ("metric", str), ("value", float), ("printed", str), ("dataset", str), ("split", str),
        ("size", Optional[Tuple[int, int]]), ("source", Source), ("convention", str), ("note", Optional[str])])):
    """One published figure: ``value`` in percent (``printed``: digits as the source prints them), on
    ``dataset``'s ``split``, with the network at ``size`` (W, H; None where the figure does not depend on it)."""
    __slots__ = ()

    @property
    def fraction(self):
        return round(self.value / 100.0, 10)

    @property
    def metric_name(self):
        return METRIC_NAMES[self.metric]

    def describe(self):
        """'val mIoU 61.4' / 'test mIoU 55.64 (void counted)'."""
        return "{} {} {}{}".format(self.split, self.metric_name, self.printed,
                                   " (void counted)" if self.convention == "void-counted" else "")

    def to_dict(self):
        return {"metric": self.metric, "value": self.value, "printed": self.printed, "dataset": self.dataset, "split": self.split,
                "size": list(self.size) if self.size else None, "convention": self.convention,
                "note": self.note, "source": self.source.to_dict()}


def published(metric, printed, dataset, split, source, size=None, convention="standard", note=None):
    """A checked ``Published`` record from the figure as the source prints it ("68.30"); an unknown metric
    or convention is a ValueError when the zoo loads."""
    if metric not in METRIC_NAMES:
        raise ValueError("unknown metric {!r}".format(metric))
    if convention not in CONVENTIONS:
        raise ValueError("unknown convention {!r}".format(convention))
    return Published(metric=metric, value=float(printed), printed=str(printed), dataset=dataset, split=split,
                     size=tuple(size) if size else None, source=source, convention=convention, note=note)


def matching(figures, dataset, split, size=None):
    """The figures measured on ``dataset``'s ``split`` (and, where a figure depends on it, at ``size``)."""
    return [f for f in figures if f.dataset == dataset and f.split == split
            and (f.size is None or size is None or tuple(f.size) == tuple(size))]


def summary(figures):
    """One short cell for the `models` table: 'val mIoU 61.4; test mIoU 60.336, category mIoU 82.178'."""
    parts = []
    for split in sorted(set(f.split for f in figures), key=lambda s: (s != "val", s)):
        here = [f for f in figures if f.split == split]
        parts.append(split + " " + ", ".join(
            "{} {}{}".format(f.metric_name, f.printed, "*" if f.convention == "void-counted" else "")
            for f in here))
    return "; ".join(parts)
