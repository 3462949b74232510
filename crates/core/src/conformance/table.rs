//! The rows: Secrets Manager's rules as AWS documents them, one behaviour each.

use super::Got::{NoValue, Value};
use super::Ver::{Fresh, Initial, Rotation};
use super::{Case, Got, Op, Outcome, Read};
use crate::stage::Stage::{Current, Pending, Previous};

/// The tags every row's secret is created with.
pub const TAGS: &[(&str, &str)] = &[("team", "rotation"), ("purpose", "conformance")];

const EXISTS: &str = "ResourceExistsException";
const INVALID_PARAMETER: &str = "InvalidParameterException";
const INVALID_REQUEST: &str = "InvalidRequestException";
const NOT_FOUND: &str = "ResourceNotFoundException";

/// Every row.
pub const TABLE: &[Case] = &[
    Case {
        name: "a new secret has its value as AWSCURRENT and nothing else",
        ops: &[
            Op::Labels(&[(Initial, &[Current])]),
            Op::Get(Read::Stage(Current), Value("v0")),
            Op::Get(Read::Stage(Previous), NoValue),
            Op::Get(Read::Stage(Pending), NoValue),
            Op::RotationEnabled(false),
        ],
        moto: None,
    },
    Case {
        name: "RotateSecret adds a value-less AWSPENDING version and enables rotation",
        ops: &[
            Op::Rotate(1, Outcome::Ok),
            Op::Labels(&[(Initial, &[Current]), (Rotation(1), &[Pending])]),
            Op::RotationEnabled(true),
            Op::Get(Read::Pending(Rotation(1)), NoValue),
            Op::Get(Read::Stage(Pending), NoValue),
            Op::Get(Read::Stage(Current), Value("v0")),
        ],
        moto: None,
    },
    Case {
        name: "PutSecretValue(AWSPENDING) with the rotation's token gives it its value",
        ops: &[
            Op::Rotate(1, Outcome::Ok),
            Op::PutPending(Rotation(1), "v1", Outcome::Ok),
            Op::Get(Read::Pending(Rotation(1)), Value("v1")),
            Op::Get(Read::Stage(Pending), Value("v1")),
            Op::Labels(&[(Initial, &[Current]), (Rotation(1), &[Pending])]),
        ],
        moto: None,
    },
    Case {
        name: "PutSecretValue again with the same token and value changes nothing",
        ops: &[
            Op::Rotate(1, Outcome::Ok),
            Op::PutPending(Rotation(1), "v1", Outcome::Ok),
            Op::PutPending(Rotation(1), "v1", Outcome::Ok),
            Op::Get(Read::Pending(Rotation(1)), Value("v1")),
            Op::Labels(&[(Initial, &[Current]), (Rotation(1), &[Pending])]),
        ],
        moto: None,
    },
    Case {
        name: "PutSecretValue with the same token and another value is ResourceExistsException",
        ops: &[
            Op::Rotate(1, Outcome::Ok),
            Op::PutPending(Rotation(1), "v1", Outcome::Ok),
            Op::PutPending(Rotation(1), "v2", Outcome::Err(EXISTS)),
            Op::Get(Read::Pending(Rotation(1)), Value("v1")),
        ],
        moto: Some("overwrites the value of a version that carries AWSPENDING"),
    },
    Case {
        name: "reading a version id with AWSPENDING it does not carry is InvalidRequestException",
        ops: &[
            Op::Rotate(1, Outcome::Ok),
            Op::Get(Read::Pending(Initial), Got::Err(INVALID_REQUEST)),
        ],
        moto: None,
    },
    Case {
        name: "reading an unknown version id finds no value",
        ops: &[Op::Get(Read::Pending(Fresh(1)), NoValue)],
        moto: None,
    },
    Case {
        name: "PutSecretValue(AWSPENDING) with a new token takes the label from the placeholder",
        ops: &[
            Op::Rotate(1, Outcome::Ok),
            Op::PutPending(Fresh(1), "v1", Outcome::Ok),
            Op::Labels(&[(Initial, &[Current]), (Fresh(1), &[Pending])]),
            Op::Get(Read::Pending(Fresh(1)), Value("v1")),
            Op::Get(Read::Pending(Rotation(1)), Got::Err(INVALID_REQUEST)),
        ],
        moto: None,
    },
    Case {
        name: "moving AWSCURRENT moves AWSPREVIOUS to the old current and leaves AWSPENDING",
        ops: &[
            Op::Rotate(1, Outcome::Ok),
            Op::PutPending(Rotation(1), "v1", Outcome::Ok),
            Op::MoveCurrent(Rotation(1), Some(Initial), Outcome::Ok),
            Op::Labels(&[(Initial, &[Previous]), (Rotation(1), &[Current, Pending])]),
            Op::Get(Read::Stage(Current), Value("v1")),
            Op::Get(Read::Stage(Previous), Value("v0")),
            Op::Get(Read::Pending(Rotation(1)), Value("v1")),
        ],
        moto: None,
    },
    Case {
        name: "moving AWSCURRENT without RemoveFromVersionId is InvalidParameterException",
        ops: &[
            Op::Rotate(1, Outcome::Ok),
            Op::PutPending(Rotation(1), "v1", Outcome::Ok),
            Op::MoveCurrent(Rotation(1), None, Outcome::Err(INVALID_PARAMETER)),
            Op::Labels(&[(Initial, &[Current]), (Rotation(1), &[Pending])]),
        ],
        moto: None,
    },
    Case {
        name: "moving AWSCURRENT from a version that does not have it is InvalidParameterException",
        ops: &[
            Op::Rotate(1, Outcome::Ok),
            Op::PutPending(Rotation(1), "v1", Outcome::Ok),
            Op::MoveCurrent(
                Rotation(1),
                Some(Rotation(1)),
                Outcome::Err(INVALID_PARAMETER),
            ),
            Op::Labels(&[(Initial, &[Current]), (Rotation(1), &[Pending])]),
            Op::Get(Read::Stage(Current), Value("v0")),
        ],
        moto: None,
    },
    Case {
        name: "PutSecretValue(AWSCURRENT) moves AWSPREVIOUS to the old current",
        ops: &[
            Op::PutCurrent(Fresh(1), "v1", Outcome::Ok),
            Op::Labels(&[(Initial, &[Previous]), (Fresh(1), &[Current])]),
            Op::Get(Read::Stage(Current), Value("v1")),
            Op::Get(Read::Stage(Previous), Value("v0")),
            Op::PutCurrent(Fresh(2), "v2", Outcome::Ok),
            Op::Labels(&[(Fresh(1), &[Previous]), (Fresh(2), &[Current])]),
        ],
        moto: None,
    },
    Case {
        name: "a version that lost every label is no longer listed",
        ops: &[
            Op::PutCurrent(Fresh(1), "v1", Outcome::Ok),
            Op::PutCurrent(Fresh(2), "v2", Outcome::Ok),
            Op::Unlisted(Initial),
        ],
        moto: Some("lists it in VersionIdsToStages with an empty list of labels"),
    },
    Case {
        name: "PutSecretValue(AWSCURRENT) again with the same token and value changes nothing",
        ops: &[
            Op::PutCurrent(Fresh(1), "v1", Outcome::Ok),
            Op::PutCurrent(Fresh(1), "v1", Outcome::Ok),
            Op::Labels(&[(Initial, &[Previous]), (Fresh(1), &[Current])]),
            Op::Get(Read::Stage(Previous), Value("v0")),
        ],
        moto: None,
    },
    Case {
        name: "PutSecretValue(AWSCURRENT) with the same token and another value is \
               ResourceExistsException",
        ops: &[
            Op::PutCurrent(Fresh(1), "v1", Outcome::Ok),
            Op::PutCurrent(Fresh(1), "v2", Outcome::Err(EXISTS)),
            Op::Get(Read::Stage(Current), Value("v1")),
        ],
        moto: None,
    },
    Case {
        name: "RotateSecret while a rotation is unfinished is InvalidRequestException",
        ops: &[
            Op::Rotate(1, Outcome::Ok),
            Op::Rotate(2, Outcome::Err(INVALID_REQUEST)),
            Op::Labels(&[(Initial, &[Current]), (Rotation(1), &[Pending])]),
        ],
        moto: Some("moves AWSPENDING to the new token and starts another rotation"),
    },
    Case {
        name: "RotateSecret after a finished rotation (AWSPENDING on AWSCURRENT) starts the next",
        ops: &[
            Op::Rotate(1, Outcome::Ok),
            Op::PutPending(Rotation(1), "v1", Outcome::Ok),
            Op::MoveCurrent(Rotation(1), Some(Initial), Outcome::Ok),
            Op::Rotate(2, Outcome::Ok),
            Op::Labels(&[
                (Initial, &[Previous]),
                (Rotation(1), &[Current]),
                (Rotation(2), &[Pending]),
            ]),
        ],
        moto: Some("refuses: \"Previous rotation request is still in progress\""),
    },
    Case {
        name: "the ARN from DescribeSecret names the secret in every call",
        ops: &[
            Op::ViaArn,
            Op::Rotate(1, Outcome::Ok),
            Op::PutPending(Rotation(1), "v1", Outcome::Ok),
            Op::MoveCurrent(Rotation(1), Some(Initial), Outcome::Ok),
            Op::Get(Read::Stage(Current), Value("v1")),
            Op::Tags(TAGS),
        ],
        moto: None,
    },
    Case {
        name: "the tags of a secret are read with DescribeSecret",
        ops: &[Op::Tags(TAGS)],
        moto: None,
    },
    Case {
        name: "a secret that does not exist: DescribeSecret and PutSecretValue are \
               ResourceNotFoundException, GetSecretValue finds no value",
        ops: &[
            Op::Missing(&Op::Describe(Outcome::Err(NOT_FOUND))),
            Op::Missing(&Op::Get(Read::Stage(Current), NoValue)),
            Op::Missing(&Op::PutCurrent(Fresh(1), "v1", Outcome::Err(NOT_FOUND))),
        ],
        moto: None,
    },
];
