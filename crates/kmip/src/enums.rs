//! The enumerations a message's frame needs, with the values of the KMIP
//! 1.4 and 2.1 specifications (they agree with PyKMIP 0.11.0's `enums`).
//! A value not listed is an error where it is read: the server answers
//! `Operation Not Supported` or `Invalid Field`, it does not guess.

macro_rules! kmip_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $value:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)*
        }

        impl $name {
            /// Every value, in the specification's order.
            pub const ALL: &[$name] = &[$($name::$variant,)*];

            /// The value on the wire.
            pub fn value(self) -> u32 {
                match self {
                    $($name::$variant => $value,)*
                }
            }

            /// The variant for a value on the wire, if it is one.
            pub fn from_value(value: u32) -> Option<$name> {
                match value {
                    $($value => Some($name::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

kmip_enum! {
    /// A batch item's operation (KMIP 2.1 section 11.39; 1.x defines the first
    /// 0x24 values, 2.x the rest).
    Operation {
        Create = 0x1,
        CreateKeyPair = 0x2,
        Register = 0x3,
        Rekey = 0x4,
        DeriveKey = 0x5,
        Certify = 0x6,
        Recertify = 0x7,
        Locate = 0x8,
        Check = 0x9,
        Get = 0xA,
        GetAttributes = 0xB,
        GetAttributeList = 0xC,
        AddAttribute = 0xD,
        ModifyAttribute = 0xE,
        DeleteAttribute = 0xF,
        ObtainLease = 0x10,
        GetUsageAllocation = 0x11,
        Activate = 0x12,
        Revoke = 0x13,
        Destroy = 0x14,
        Archive = 0x15,
        Recover = 0x16,
        Validate = 0x17,
        Query = 0x18,
        Cancel = 0x19,
        Poll = 0x1A,
        Notify = 0x1B,
        Put = 0x1C,
        RekeyKeyPair = 0x1D,
        DiscoverVersions = 0x1E,
        Encrypt = 0x1F,
        Decrypt = 0x20,
        Sign = 0x21,
        SignatureVerify = 0x22,
        Mac = 0x23,
        MacVerify = 0x24,
        RngRetrieve = 0x25,
        RngSeed = 0x26,
        Hash = 0x27,
        CreateSplitKey = 0x28,
        JoinSplitKey = 0x29,
        Import = 0x2A,
        Export = 0x2B,
        Log = 0x2C,
        Login = 0x2D,
        Logout = 0x2E,
        DelegatedLogin = 0x2F,
        AdjustAttribute = 0x30,
        SetAttribute = 0x31,
        SetEndpointRole = 0x32,
        Pkcs11 = 0x33,
        Interop = 0x34,
        Reprovision = 0x35,
    }
}

kmip_enum! {
    /// A managed object's type (KMIP 2.1 section 11.30).
    ObjectType {
        Certificate = 0x1,
        SymmetricKey = 0x2,
        PublicKey = 0x3,
        PrivateKey = 0x4,
        SplitKey = 0x5,
        Template = 0x6,
        SecretData = 0x7,
        OpaqueObject = 0x8,
        PgpKey = 0x9,
        CertificateRequest = 0xA,
    }
}

kmip_enum! {
    /// Whether a batch item succeeded (KMIP 2.1 section 11.46).
    ResultStatus {
        Success = 0x0,
        OperationFailed = 0x1,
        OperationPending = 0x2,
        OperationUndone = 0x3,
    }
}

kmip_enum! {
    /// Why a batch item failed (KMIP 2.1 section 11.45; 1.4 defines the
    /// values up to 0x18 and General Failure, 2.x the rest).
    ResultReason {
        ItemNotFound = 0x1,
        ResponseTooLarge = 0x2,
        AuthenticationNotSuccessful = 0x3,
        InvalidMessage = 0x4,
        OperationNotSupported = 0x5,
        MissingData = 0x6,
        InvalidField = 0x7,
        FeatureNotSupported = 0x8,
        OperationCanceledByRequester = 0x9,
        CryptographicFailure = 0xA,
        IllegalOperation = 0xB,
        PermissionDenied = 0xC,
        ObjectArchived = 0xD,
        IndexOutOfBounds = 0xE,
        ApplicationNamespaceNotSupported = 0xF,
        KeyFormatTypeNotSupported = 0x10,
        KeyCompressionTypeNotSupported = 0x11,
        EncodingOptionError = 0x12,
        KeyValueNotPresent = 0x13,
        AttestationRequired = 0x14,
        AttestationFailed = 0x15,
        Sensitive = 0x16,
        NotExtractable = 0x17,
        ObjectAlreadyExists = 0x18,
        InvalidTicket = 0x19,
        UsageLimitExceeded = 0x1A,
        NumericRange = 0x1B,
        InvalidDataType = 0x1C,
        ReadOnlyAttribute = 0x1D,
        MultiValuedAttribute = 0x1E,
        UnsupportedAttribute = 0x1F,
        AttributeInstanceNotFound = 0x20,
        AttributeNotFound = 0x21,
        AttributeReadOnly = 0x22,
        AttributeSingleValued = 0x23,
        BadCryptographicParameters = 0x24,
        BadPassword = 0x25,
        CodecError = 0x26,
        IllegalObjectType = 0x28,
        IncompatibleCryptographicUsageMask = 0x29,
        InternalServerError = 0x2A,
        InvalidAsynchronousCorrelationValue = 0x2B,
        InvalidAttribute = 0x2C,
        InvalidAttributeValue = 0x2D,
        InvalidCorrelationValue = 0x2E,
        InvalidCsr = 0x2F,
        InvalidObjectType = 0x30,
        KeyWrapTypeNotSupported = 0x32,
        MissingInitializationVector = 0x34,
        NonUniqueNameAttribute = 0x35,
        ObjectDestroyed = 0x36,
        ObjectNotFound = 0x37,
        NotAuthorised = 0x39,
        ServerLimitExceeded = 0x3A,
        UnknownEnumeration = 0x3B,
        UnknownMessageExtension = 0x3C,
        UnknownTag = 0x3D,
        UnsupportedCryptographicParameters = 0x3E,
        UnsupportedProtocolVersion = 0x3F,
        WrappingObjectArchived = 0x40,
        WrappingObjectDestroyed = 0x41,
        WrappingObjectNotFound = 0x42,
        WrongKeyLifecycleState = 0x43,
        ProtectionStorageUnavailable = 0x44,
        Pkcs11CodecError = 0x45,
        Pkcs11InvalidFunction = 0x46,
        Pkcs11InvalidInterface = 0x47,
        GeneralFailure = 0x100,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_unknown_ones_are_none() {
        for op in Operation::ALL {
            assert_eq!(Operation::from_value(op.value()), Some(*op));
        }
        for reason in ResultReason::ALL {
            assert_eq!(ResultReason::from_value(reason.value()), Some(*reason));
        }
        assert_eq!(Operation::from_value(0), None);
        assert_eq!(ResultReason::GeneralFailure.value(), 0x100);
        assert_eq!(ResultReason::WrongKeyLifecycleState.value(), 0x43);
        assert_eq!(Operation::DiscoverVersions.value(), 0x1E);
    }
}
