"""Strict stand-ins generated from NVIDIA's real TensorRT Python classes.

The real ``tensorrt_bindings`` module (imported with the native library replaced by C stand-ins, see
trt_bindings.py) describes every method in pybind11 signature lines such as

    set_memory_pool_limit(self: tensorrt.IBuilderConfig, pool: tensorrt.MemoryPoolType, pool_size: int) -> None

``strict_module(real, version)`` returns a module to put in ``sys.modules['tensorrt']`` whose
Builder/Runtime/OnnxParser (and everything they hand out) accept exactly those calls: the method
must exist on the real class, positional count and keyword names must fit one overload, each
argument must fit its annotated type (an int is not a float, a buffer object is not an int, an enum
member must be of the annotated enum), and only real settable properties can be assigned. What each
call *does* comes from a small behaviour object (the world in trt_world.py). Enums, Logger, Dims and
the calibrator base classes are the real ones; uses of members the bindings mark [DEPRECATED] are
recorded in ``module._deprecated``.
"""

import numbers
import re
import types

_SIG_RE = re.compile(r"^\s*(?:\d+\.\s+)?(\w+)\((.*)\)\s*->\s*(.+?)\s*$")
_PREFIX_RE = re.compile(r"\b(?:tensorrt_bindings\.tensorrt|tensorrt_bindings|tensorrt|typing_extensions|typing|collections\.abc)\.")


class ApiSlip(TypeError):
    """Our code called the TensorRT Python API in a way the real bindings would reject."""


def _split_top(text, sep=","):
    parts, depth, current = [], 0, []
    for char in text:
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        if char == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if "".join(current).strip():
        parts.append("".join(current))
    return [p.strip() for p in parts]


def clean_type(annotation):
    return _PREFIX_RE.sub("", annotation.strip())


def parse_signatures(doc, name):
    """pybind11 docstring -> [[(param, type, has_default, default_text)], ...] one list per overload,
    ``self`` dropped."""
    found = []
    for line in (doc or "").splitlines():
        match = _SIG_RE.match(line)
        if not match or match.group(1) != name:
            continue
        params = []
        for item in _split_top(match.group(2)):
            if item.startswith("*"):
                params.append((item.lstrip("*"), "*", True, None))
                continue
            head, _, default = item.partition("=")
            pname, _, ptype = head.partition(":")
            params.append((pname.strip(), clean_type(ptype) if ptype else "object", bool(_),
                           default.strip() or None))
        if params and params[0][0] in ("self", "arg0"):
            params = params[1:]
        found.append(params)
    return found


_DEPRECATED_RE = re.compile(r"(?<!\()\[DEPRECATED\]|^\s*Deprecated in TensorRT", re.M)


def _is_deprecated(doc):
    """The bindings mark deprecations with '[DEPRECATED]'; one in parentheses is about something else
    (MemoryPoolType.WORKSPACE mentions the deprecated IAlgorithmSelector that way)."""
    return bool(doc) and bool(_DEPRECATED_RE.search(doc))


class Checker(object):
    """Type acceptance for pybind11 annotations, against the real module's classes and enums."""

    def __init__(self, real):
        self.real = real

    def real_class(self, name):
        obj = getattr(self.real, name, None)
        return obj if isinstance(obj, type) else None

    def accepts(self, annotation, value):
        ann = annotation.strip()
        if ann.startswith("Optional[") and ann.endswith("]"):
            return value is None or self.accepts(ann[9:-1], value)
        if "|" in ann and "[" not in ann:
            return any(self.accepts(part, value) for part in ann.split("|"))
        if ann in ("tuple", "list"):
            return isinstance(value, tuple if ann == "tuple" else list)
        if ann in ("None", "NoneType"):
            return value is None
        if ann in ("int", "SupportsInt", "SupportsIndex"):
            return isinstance(value, numbers.Integral) or (hasattr(value, "__index__") and
                                                           not isinstance(value, float))
        if ann in ("float", "SupportsFloat"):
            return isinstance(value, (numbers.Integral, numbers.Real)) and not isinstance(value, complex)
        if ann == "bool":
            return isinstance(value, bool) or type(value).__name__ == "bool_"
        if ann in ("str", "os.PathLike", "PathLike"):
            return isinstance(value, str)
        if ann in ("buffer", "Buffer", "bytes"):
            try:
                memoryview(value)
            except TypeError:
                return False
            return True
        for head in ("List[", "list[", "Sequence[", "Tuple[", "tuple["):
            if ann.startswith(head) and ann.endswith("]"):
                inner = _split_top(ann[len(head):-1])
                if not isinstance(value, (list, tuple)):
                    return False
                if head.lower().startswith("tuple") and len(inner) > 1 and inner[-1] != "...":
                    return len(value) == len(inner) and all(self.accepts(t, v) for t, v in zip(inner, value))
                return all(self.accepts(inner[0], v) for v in value)
        if ann in ("Dims", "Dims32", "Dims64", "Dims2", "Dims3", "Dims4", "DimsHW"):
            if isinstance(value, self.real_class("Dims") or ()):
                return True
            return isinstance(value, (list, tuple)) and all(self.accepts("int", v) for v in value)
        cls = self.real_class(ann)
        if cls is not None:
            if hasattr(cls, "__members__"):  # pybind11 enum
                return isinstance(value, cls)
            standin_cls = getattr(type(value), "_real_cls", None)
            if standin_cls is not None:
                return issubclass(standin_cls, cls)
            return isinstance(value, cls)
        return True  # capsule, object, numpy types, ...: not checked


class Recorder(object):
    def __init__(self):
        self.calls = []
        self.deprecated = []


def _bind(params, args, kwargs):
    """Bind like pybind11 would; returns {name: value} or raises ApiSlip with the reason."""
    if any(p[1] == "*" for p in params):
        return dict(kwargs, _args=args)
    if len(args) > len(params):
        raise ApiSlip("takes {} arguments, {} given".format(len(params), len(args)))
    bound = {}
    for (name, _, _, _), value in zip(params, args):
        bound[name] = value
    names = [p[0] for p in params]
    for key, value in kwargs.items():
        if key not in names:
            raise ApiSlip("has no keyword {!r} (its parameters: {})".format(key, ", ".join(names)))
        if key in bound:
            raise ApiSlip("got {!r} twice".format(key))
        bound[key] = value
    for name, _, has_default, default in params:
        if name not in bound:
            if not has_default:
                raise ApiSlip("missing argument {!r}".format(name))
            bound[name] = None if default in (None, "None") else _Default(default)
    return bound


class _Default(object):
    def __init__(self, text):
        self.text = text


def check_call(checker, owner, name, doc, args, kwargs):
    """-> bound arguments of the first overload that accepts the call; ApiSlip naming all reasons."""
    overloads = parse_signatures(doc, name)
    if not overloads:
        raise ApiSlip("{}.{}: no signature in the real docstring".format(owner, name))
    reasons = []
    for params in overloads:
        try:
            bound = _bind(params, args, kwargs)
        except ApiSlip as exc:
            reasons.append(str(exc))
            continue
        bad = []
        for pname, ptype, has_default, default in params:
            value = bound.get(pname)
            if ptype == "*" or isinstance(value, _Default):
                continue
            if value is None and has_default and default in (None, "None"):
                continue
            if not checker.accepts(ptype, value):
                bad.append("{} must be {}, got {}".format(pname, ptype, type(value).__name__))
        if bad:
            reasons.append("; ".join(bad))
            continue
        return {k: v for k, v in bound.items() if not isinstance(v, _Default)}
    raise ApiSlip("{}.{}(): {}".format(owner, name, " | ".join(reasons)))


def _static(cls, name):
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    return None


class StandIn(object):
    """Instance of a generated strict class; ``_behaviour`` does the work."""

    _real_cls = None
    _checker = None
    _recorder = None

    def __init__(self, behaviour):
        object.__setattr__(self, "_behaviour", behaviour)

    def __getattr__(self, name):
        cls = type(self)._real_cls
        static = _static(cls, name)
        if static is None:
            raise AttributeError("'{}' object has no attribute '{}' (not in TensorRT {})".format(
                cls.__name__, name, type(self)._recorder.version))
        behaviour = object.__getattribute__(self, "_behaviour")
        if isinstance(static, property):
            if _is_deprecated(static.__doc__) or _is_deprecated(static.fget.__doc__ if static.fget else ""):
                type(self)._recorder.deprecated.append("{}.{}".format(cls.__name__, name))
            type(self)._recorder.calls.append("{}.{}".format(cls.__name__, name))
            if not hasattr(behaviour, name):
                raise NotImplementedError("stand-in has no value for {}.{}".format(cls.__name__, name))
            return getattr(behaviour, name)
        doc = getattr(static, "__doc__", "") or ""
        if _is_deprecated(doc):
            type(self)._recorder.deprecated.append("{}.{}()".format(cls.__name__, name))

        def call(*args, **kwargs):
            bound = check_call(type(self)._checker, cls.__name__, name, doc, args, kwargs)
            type(self)._recorder.calls.append("{}.{}".format(cls.__name__, name))
            impl = getattr(behaviour, name, None)
            if impl is None:
                raise NotImplementedError("stand-in has no behaviour for {}.{}()".format(cls.__name__, name))
            return impl(**bound)
        return call

    def __setattr__(self, name, value):
        cls = type(self)._real_cls
        static = _static(cls, name)
        if not isinstance(static, property):
            raise ApiSlip("{}.{} is not a property of TensorRT {}".format(cls.__name__, name,
                                                                         type(self)._recorder.version))
        if static.fset is None:
            raise ApiSlip("{}.{} is read-only".format(cls.__name__, name))
        first = (static.fget.__doc__ or "").strip().splitlines()
        match = re.search(r"->\s*(.+)$", first[0]) if first else None
        wanted = clean_type(match.group(1)) if match else "object"
        nullable = value is None and (wanted.startswith("Optional") or wanted in self._nullable)
        if not nullable and not type(self)._checker.accepts(wanted, value):
            raise ApiSlip("{}.{} must be {}, got {}".format(cls.__name__, name, wanted, type(value).__name__))
        if _is_deprecated(static.__doc__):
            type(self)._recorder.deprecated.append("{}.{}".format(cls.__name__, name))
        type(self)._recorder.calls.append("{}.{}=".format(cls.__name__, name))
        setattr(object.__getattribute__(self, "_behaviour"), name, value)

    _nullable = ("IInt8Calibrator", "IAlgorithmSelector", "IProgressMonitor", "IErrorRecorder")

    def __bytes__(self):
        return bytes(object.__getattribute__(self, "_behaviour"))

    def __len__(self):
        return len(object.__getattribute__(self, "_behaviour"))


class EnumProxy(object):
    """The real enum, with uses of [DEPRECATED] members recorded."""

    def __init__(self, enum, recorder):
        self._enum = enum
        self._recorder = recorder
        self._deprecated = set()
        doc = enum.__doc__ or ""
        for member in enum.__members__:
            block = re.search(r"^\s*{} :(.*?)(?=^\s*\w+ :|\Z)".format(re.escape(member)), doc, re.M | re.S)
            if block and _is_deprecated(block.group(1)):
                self._deprecated.add(member)

    def __getattr__(self, name):
        value = getattr(self._enum, name)
        if name in self._deprecated:
            self._recorder.deprecated.append("{}.{}".format(self._enum.__name__, name))
        return value


def strict_module(real, version, world):
    """A ``tensorrt`` module for our code: real enums/Logger/Dims/calibrators, strict Builder & co.

    ``world.make(kind, module)`` returns the behaviour object for Builder, Runtime and OnnxParser.
    """
    checker = Checker(real)
    recorder = Recorder()
    recorder.version = version
    classes = {}

    def standin_class(real_name):
        if real_name not in classes:
            real_cls = getattr(real, real_name)
            classes[real_name] = type("Strict" + real_name, (StandIn,),
                                      {"_real_cls": real_cls, "_checker": checker, "_recorder": recorder})
        return classes[real_name]

    def wrap(real_name, behaviour):
        return standin_class(real_name)(behaviour)

    module = types.ModuleType("tensorrt")
    module.__version__ = version
    module._real = real
    module._recorder = recorder
    module._deprecated = recorder.deprecated
    module._wrap = wrap

    def constructor(real_name):
        def make(*args, **kwargs):
            bound = check_call(checker, real_name, "__init__", getattr(real, real_name).__init__.__doc__,
                               args, kwargs)
            recorder.calls.append(real_name + "()")
            return wrap(real_name, world.make(real_name, module, **bound))
        return make

    for name in ("Builder", "Runtime", "OnnxParser"):
        setattr(module, name, constructor(name))
    for name in dir(real):
        if name.startswith("__") or hasattr(module, name):
            continue
        value = getattr(real, name)
        if isinstance(value, type) and hasattr(value, "__members__"):
            value = EnumProxy(value, recorder)
        setattr(module, name, value)
    return module
