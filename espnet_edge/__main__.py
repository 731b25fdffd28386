import sys

if __name__ == "__main__":
    try:
        from espnet_edge.cli.main import main
    except KeyboardInterrupt:   # Ctrl-C while Python loads us: no traceback
        sys.stderr.write("espnet-edge: interrupted\n")
        raise SystemExit(130)
    raise SystemExit(main())
