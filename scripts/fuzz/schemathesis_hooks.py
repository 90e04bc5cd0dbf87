"""Schemathesis hooks for chainlog (loaded by scripts/fuzz-graphql.sh via SCHEMATHESIS_HOOKS).

- Strategies for the custom scalars DateTime, SafeInt, JSONObject and JSON, valid and invalid values alike.
- The check `no_internal_server_error`: no HTTP 5xx and no error whose extensions.code is
  INTERNAL_SERVER_ERROR. (Schemathesis's own GraphQL server-error check counts every error with a
  path, e.g. NOT_FOUND for an absent log, as a server error, which is not what chainlog means by it.)
"""

import json

import graphql
import schemathesis
from hypothesis import strategies as st
from schemathesis.graphql import nodes


def _object(fields):
    return graphql.ObjectValueNode(
        fields=tuple(graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=v) for k, v in fields.items())
    )


_name = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,10}\Z")
_leaf = st.one_of(
    st.integers(min_value=-(2**40), max_value=2**40).map(nodes.Int),
    st.text(max_size=20).map(nodes.String),
    st.booleans().map(nodes.Boolean),
    st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
)

schemathesis.graphql.scalar(
    "DateTime",
    st.one_of(
        st.datetimes().map(lambda d: nodes.String(d.isoformat(timespec="milliseconds") + "Z")),
        st.datetimes().map(lambda d: nodes.String(d.isoformat() + "+05:30")),
        st.text(max_size=30).map(nodes.String),
        st.integers().map(nodes.Int),
    ),
)
schemathesis.graphql.scalar(
    "SafeInt",
    st.one_of(
        st.integers(min_value=-3, max_value=40),
        st.integers(min_value=-(2**60), max_value=2**60),
        st.sampled_from([2**53 - 1, 2**53, -(2**53), 2**31, 2**63]),
    ).map(nodes.Int),
)
schemathesis.graphql.scalar(
    "JSONObject",
    st.one_of(
        st.dictionaries(_name, _leaf, max_size=5).map(_object),
        st.dictionaries(_name, st.dictionaries(_name, _leaf, max_size=3).map(_object), max_size=3).map(_object),
        st.lists(_leaf, max_size=3).map(nodes.List),
        _leaf,
    ),
)

# Any JSON value (eraseEvents' payloadField.equals).
schemathesis.graphql.scalar(
    "JSON",
    st.one_of(
        _leaf,
        st.dictionaries(_name, _leaf, max_size=3).map(_object),
        st.lists(_leaf, max_size=3).map(nodes.List),
        st.just(graphql.NullValueNode()),
    ),
)


@schemathesis.check
def no_internal_server_error(ctx, response, case):
    """No 5xx, and no INTERNAL_SERVER_ERROR in the GraphQL errors."""
    if response.status_code >= 500:
        raise AssertionError(f"HTTP {response.status_code}: {response.text[:500]}")
    try:
        body = json.loads(response.text)
    except ValueError:
        return
    for error in (body or {}).get("errors") or []:
        # GraphQL errors carry the code in extensions, REST errors (/v1/events) at the top level.
        code = ((error or {}).get("extensions") or {}).get("code") or (error or {}).get("code")
        if code == "INTERNAL_SERVER_ERROR":
            raise AssertionError(f"INTERNAL_SERVER_ERROR: {json.dumps(error)[:500]}")
