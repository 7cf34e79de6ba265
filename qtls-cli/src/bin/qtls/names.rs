//! The readable algorithm names `--profile` and `--alg` take, listed by `--help` with what
//! each one means (draft-ietf-lamps-pq-composite-sigs-19 algorithms by their CLI names).

use std::ffi::OsStr;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::error::ErrorKind;
use qtls_pki::Profile;
use qtls_provider::KeyAlgorithm;

fn parse<T: std::str::FromStr>(cmd: &clap::Command, value: &OsStr) -> Result<T, clap::Error>
where
    T::Err: std::fmt::Display,
{
    let text = value
        .to_str()
        .ok_or_else(|| clap::Error::new(ErrorKind::InvalidUtf8).with_cmd(cmd))?;
    text.parse::<T>()
        .map_err(|e| clap::Error::raw(ErrorKind::InvalidValue, format!("{e}\n")).with_cmd(cmd))
}

/// `--profile`: every [`Profile`], by [`Profile::name`] (and the spellings its `FromStr`
/// takes, `composite` included).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ProfileParser;

impl TypedValueParser for ProfileParser {
    type Value = Profile;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<Profile, clap::Error> {
        parse(cmd, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(Profile::ALL.into_iter().map(|profile| {
            let value = PossibleValue::new(profile.name()).help(profile.description());
            if profile == Profile::COMPOSITE {
                value.alias("composite")
            } else {
                value
            }
        })))
    }
}

/// `--alg`: every [`KeyAlgorithm`], by [`KeyAlgorithm::cli_name`] (and the spellings its
/// `FromStr` takes).
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyAlgorithmParser;

impl TypedValueParser for KeyAlgorithmParser {
    type Value = KeyAlgorithm;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<KeyAlgorithm, clap::Error> {
        parse(cmd, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(KeyAlgorithm::ALL.into_iter().map(|alg| {
            let value = PossibleValue::new(alg.cli_name()).help(alg.name());
            if alg == KeyAlgorithm::DEFAULT {
                value.alias("composite")
            } else {
                value
            }
        })))
    }
}
