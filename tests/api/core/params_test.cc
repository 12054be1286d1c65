// Typed parameter reads: scalars, the four list encodings, tags, and the
// Finish() check that refuses a parameter nothing asked for.
#include "api/core/params.h"

#include <gtest/gtest.h>

namespace tg::api {
namespace {

Params Of(std::map<std::string, std::string> values) {
  return Params(std::move(values));
}

// The error's code, and that its message names `name`.
void ExpectInvalid(const ApiError& error, std::string_view name) {
  EXPECT_EQ(error.http_status, 400);
  EXPECT_EQ(error.code, "InvalidParameter");
  EXPECT_NE(error.message.find(std::string(name)), std::string::npos) << error.message;
}

TEST(ParamsTest, RequiredMissingOrEmptyIsMissingParameter) {
  auto p = Of({{"InstanceId", ""}, {"Name", "web"}});
  auto missing = p.Required("VpcId");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "MissingParameter");
  EXPECT_EQ(missing.error().http_status, 400);
  EXPECT_EQ(missing.error().message,
            "The input parameter \"VpcId\" that is mandatory for processing this request is not "
            "supplied.");
  auto empty = p.Required("InstanceId");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, "MissingParameter");
  auto name = p.Required("Name");
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(*name, "web");
}

TEST(ParamsTest, OptionalTreatsEmptyAsAbsent) {
  auto p = Of({{"Description", ""}, {"Name", "x"}});
  EXPECT_FALSE(p.Optional("Description").has_value());
  EXPECT_FALSE(p.Optional("Absent").has_value());
  EXPECT_EQ(p.Optional("Name").value(), "x");
  EXPECT_EQ(p.OptionalOr("Description", "default"), "default");
  EXPECT_EQ(p.OptionalOr("Name", "default"), "x");
}

TEST(ParamsTest, IntAcceptsDecimalInRange) {
  auto p = Of({{"Size", "40"},
               {"Neg", "-5"},
               {"Max", "9223372036854775807"},
               {"Min", "-9223372036854775808"}});
  auto size = p.Int("Size", 20, 500);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(size.value(), 40);
  EXPECT_EQ(p.Int("Neg", -10, 10).value(), -5);
  EXPECT_EQ(p.Int("Max", INT64_MIN, INT64_MAX).value(), INT64_MAX);
  EXPECT_EQ(p.Int("Min", INT64_MIN, INT64_MAX).value(), INT64_MIN);
  auto absent = p.Int("Absent", 0, 1);
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent.value().has_value());
}

TEST(ParamsTest, IntRefusesGarbageOverflowAndOutOfRange) {
  for (const char* bad : {"abc", "12a", " 1", "1 ", "+1", "-", "1.5", "0x10", "1e3",
                          "9223372036854775808", "-9223372036854775809", "99999999999999999999"}) {
    auto p = Of({{"Size", bad}});
    auto r = p.Int("Size", INT64_MIN, INT64_MAX);
    ASSERT_FALSE(r.ok()) << bad;
    ExpectInvalid(r.error(), "Size");
  }
  auto p = Of({{"Size", "19"}, {"Big", "501"}});
  ExpectInvalid(p.Int("Size", 20, 500).error(), "Size");
  ExpectInvalid(p.Int("Big", 20, 500).error(), "Big");
  EXPECT_EQ(p.Int("Size", 19, 19).value(), 19);
}

TEST(ParamsTest, RequiredIntMissingIsMissingParameter) {
  auto p = Of({{"Size", "7"}});
  EXPECT_EQ(p.RequiredInt("Size", 1, 10).value(), 7);
  auto r = p.RequiredInt("Count", 1, 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "MissingParameter");
}

TEST(ParamsTest, BoolAnyCase) {
  auto p = Of({{"A", "true"}, {"B", "FALSE"}, {"C", "True"}, {"D", "1"}, {"E", "yes"}});
  EXPECT_EQ(p.Bool("A").value(), true);
  EXPECT_EQ(p.Bool("B").value(), false);
  EXPECT_EQ(p.Bool("C").value(), true);
  ExpectInvalid(p.Bool("D").error(), "D");
  ExpectInvalid(p.Bool("E").error(), "E");
  EXPECT_FALSE(p.Bool("Absent").value().has_value());
}

TEST(ParamsTest, EnumReturnsAllowedSpelling) {
  auto p = Of({{"Category", "CLOUD_ESSD"}, {"Bad", "tape"}});
  EXPECT_EQ(p.Enum("Category", {"cloud_efficiency", "cloud_essd"}).value(), "cloud_essd");
  auto bad = p.Enum("Bad", {"cloud_efficiency", "cloud_essd"});
  ASSERT_FALSE(bad.ok());
  ExpectInvalid(bad.error(), "Bad");
  EXPECT_NE(bad.error().message.find("cloud_essd"), std::string::npos);
  EXPECT_FALSE(p.Enum("Absent", {"a"}).value().has_value());
}

TEST(ParamsTest, AsciiLengthAndPrintable) {
  auto p = Of({{"ClientToken", "TF-CreateVpc-1700000000-abc"},
               {"Long", std::string(65, 'a')},
               {"Ctl", "a\nb"},
               {"Utf8", "caf\xc3\xa9"}});
  EXPECT_EQ(p.Ascii("ClientToken", 64).value(), "TF-CreateVpc-1700000000-abc");
  ExpectInvalid(p.Ascii("Long", 64).error(), "Long");
  EXPECT_TRUE(p.Ascii("Long", 65).ok());
  ExpectInvalid(p.Ascii("Ctl", 64).error(), "Ctl");
  ExpectInvalid(p.Ascii("Utf8", 64).error(), "Utf8");
}

TEST(ParamsTest, ListAInOrder) {
  auto p = Of({{"InstanceId.1", "i-1"},
               {"InstanceId.2", "i-2"},
               {"InstanceId.10", "i-10"},
               {"InstanceId.3", "i-3"},
               {"InstanceId.4", "i-4"},
               {"InstanceId.5", "i-5"},
               {"InstanceId.6", "i-6"},
               {"InstanceId.7", "i-7"},
               {"InstanceId.8", "i-8"},
               {"InstanceId.9", "i-9"},
               {"InstanceIds", "[]"}});
  auto list = p.ListA("InstanceId", 100);
  ASSERT_TRUE(list.ok()) << list.error().message;
  ASSERT_EQ(list->size(), 10u);
  EXPECT_EQ(list->front(), "i-1");
  EXPECT_EQ((*list)[9], "i-10");
  // "InstanceIds" is another parameter, not an item of the list.
  EXPECT_FALSE(p.Finish().ok());
  auto none = Of({}).ListA("InstanceId", 100);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(ParamsTest, ListARefusesZeroGapsGarbageAndTooMany) {
  ExpectInvalid(Of({{"InstanceId.0", "a"}}).ListA("InstanceId", 10).error(), "InstanceId.0");
  ExpectInvalid(Of({{"InstanceId.1", "a"}, {"InstanceId.3", "c"}}).ListA("InstanceId", 10).error(),
                "InstanceId");
  ExpectInvalid(Of({{"InstanceId.2", "b"}}).ListA("InstanceId", 10).error(), "InstanceId");
  ExpectInvalid(Of({{"InstanceId.x", "a"}}).ListA("InstanceId", 10).error(), "InstanceId.x");
  ExpectInvalid(Of({{"InstanceId.01", "a"}}).ListA("InstanceId", 10).error(), "InstanceId.01");
  ExpectInvalid(Of({{"InstanceId.1.Key", "a"}}).ListA("InstanceId", 10).error(),
                "InstanceId.1.Key");
  ExpectInvalid(Of({{"InstanceId.", "a"}}).ListA("InstanceId", 10).error(), "InstanceId.");
  ExpectInvalid(Of({{"InstanceId.1", "a"}, {"InstanceId.2", "b"}, {"InstanceId.3", "c"}})
                    .ListA("InstanceId", 2)
                    .error(),
                "InstanceId.3");
}

TEST(ParamsTest, StructListWithNestedLists) {
  auto p = Of({{"DataDisk.1.Size", "20"},
               {"DataDisk.1.Category", "cloud_essd"},
               {"DataDisk.2.Size", "40"},
               {"NetworkInterface.1.VSwitchId", "vsw-1"},
               {"NetworkInterface.1.SecurityGroupIds.1", "sg-1"},
               {"NetworkInterface.1.SecurityGroupIds.2", "sg-2"}});
  auto disks = p.StructList("DataDisk", {"Size", "Category"}, 16);
  ASSERT_TRUE(disks.ok()) << disks.error().message;
  ASSERT_EQ(disks->size(), 2u);
  EXPECT_EQ((*disks)[0].at("Size"), "20");
  EXPECT_EQ((*disks)[0].at("Category"), "cloud_essd");
  EXPECT_EQ((*disks)[1].at("Size"), "40");
  EXPECT_EQ((*disks)[1].count("Category"), 0u);
  auto nics = p.StructList("NetworkInterface", {"VSwitchId", "SecurityGroupIds"}, 8);
  ASSERT_TRUE(nics.ok()) << nics.error().message;
  ASSERT_EQ(nics->size(), 1u);
  EXPECT_EQ((*nics)[0].at("SecurityGroupIds.1"), "sg-1");
  EXPECT_EQ((*nics)[0].at("SecurityGroupIds.2"), "sg-2");
  EXPECT_TRUE(p.Finish().ok());
}

TEST(ParamsTest, StructListRefusesUnknownFieldsGapsAndBadIndices) {
  std::set<std::string> fields = {"Size", "Category"};
  ExpectInvalid(Of({{"DataDisk.1.Colour", "red"}}).StructList("DataDisk", fields, 16).error(),
                "DataDisk.1.Colour");
  ExpectInvalid(Of({{"DataDisk.1.Size.1", "1"}}).StructList("DataDisk", {"SizeX"}, 16).error(),
                "DataDisk.1.Size.1");
  ExpectInvalid(Of({{"DataDisk.1", "x"}}).StructList("DataDisk", fields, 16).error(), "DataDisk.1");
  ExpectInvalid(Of({{"DataDisk.0.Size", "1"}}).StructList("DataDisk", fields, 16).error(),
                "DataDisk.0.Size");
  ExpectInvalid(Of({{"DataDisk.1.Size", "1"}, {"DataDisk.3.Size", "1"}})
                    .StructList("DataDisk", fields, 16)
                    .error(),
                "DataDisk");
  ExpectInvalid(Of({{"DataDisk.17.Size", "1"}}).StructList("DataDisk", fields, 16).error(),
                "DataDisk.17.Size");
  ExpectInvalid(Of({{"DataDisk.1.", "1"}}).StructList("DataDisk", fields, 16).error(),
                "DataDisk.1.");
}

TEST(ParamsTest, DottedStruct) {
  auto p = Of({{"SystemDisk.Size", "40"}, {"SystemDisk.Category", "cloud_essd"}});
  auto disk = p.Dotted("SystemDisk", {"Size", "Category", "PerformanceLevel"});
  ASSERT_TRUE(disk.ok());
  EXPECT_EQ(disk->at("Size"), "40");
  EXPECT_EQ(disk->size(), 2u);
  ExpectInvalid(Of({{"SystemDisk.Colour", "red"}}).Dotted("SystemDisk", {"Size"}).error(),
                "SystemDisk.Colour");
}

TEST(ParamsTest, JsonArrayOfStrings) {
  auto p = Of({{"InstanceIds", R"(["i-1","i-2"])"}});
  auto ids = p.JsonArray("InstanceIds", 100);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<std::string>{"i-1", "i-2"}));
  EXPECT_TRUE(Of({}).JsonArray("InstanceIds", 100)->empty());
  EXPECT_TRUE(Of({{"InstanceIds", "[]"}}).JsonArray("InstanceIds", 100)->empty());
  for (const char* bad :
       {"i-1", R"(["i-1",)", R"({"a":"b"})", R"([1,2])", R"(["a",null])", "\"i-1\""}) {
    auto r = Of({{"InstanceIds", bad}}).JsonArray("InstanceIds", 100);
    ASSERT_FALSE(r.ok()) << bad;
    ExpectInvalid(r.error(), "InstanceIds");
  }
  ExpectInvalid(Of({{"InstanceIds", R"(["a","b","c"])"}}).JsonArray("InstanceIds", 2).error(),
                "InstanceIds");
}

TEST(ParamsTest, CommaListDropsEmptyItems) {
  auto p = Of({{"VpcId", "vpc-1,,vpc-2, vpc-3,"}});
  auto ids = p.CommaList("VpcId", 20);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<std::string>{"vpc-1", "vpc-2", "vpc-3"}));
  EXPECT_TRUE(Of({}).CommaList("VpcId", 20)->empty());
  ExpectInvalid(Of({{"VpcId", "a,b,c"}}).CommaList("VpcId", 2).error(), "VpcId");
  EXPECT_EQ(Of({{"VpcId", "a,b"}}).CommaList("VpcId", 2)->size(), 2u);
}

TEST(ParamsTest, JsonObject) {
  auto p = Of({{"AccessMode", R"({"ModeValue":"route"})"}});
  auto mode = p.JsonObject("AccessMode");
  ASSERT_TRUE(mode.ok());
  EXPECT_EQ((*mode)->at("ModeValue"), "route");
  EXPECT_FALSE(Of({}).JsonObject("AccessMode")->has_value());
  for (const char* bad : {"route", "[1]", "{\"a\":", "\"x\""}) {
    ExpectInvalid(Of({{"AccessMode", bad}}).JsonObject("AccessMode").error(), "AccessMode");
  }
}

TEST(ParamsTest, TagsGood) {
  auto p = Of({{"Tag.1.Key", "env"}, {"Tag.1.Value", "prod"}, {"Tag.2.Key", "team"}});
  auto tags = p.Tags();
  ASSERT_TRUE(tags.ok()) << tags.error().message;
  EXPECT_EQ(tags->at("env"), "prod");
  EXPECT_EQ(tags->at("team"), "");
  EXPECT_TRUE(p.Finish().ok());
  auto vpn = Of({{"Tags.1.Key", "a"}, {"Tags.1.Value", "b"}}).Tags("Tags");
  ASSERT_TRUE(vpn.ok());
  EXPECT_EQ(vpn->at("a"), "b");
}

TEST(ParamsTest, TagsRefused) {
  ExpectInvalid(Of({{"Tag.1.Key", "a"}, {"Tag.2.Key", "a"}}).Tags().error(), "Tag.2.Key");
  ExpectInvalid(Of({{"Tag.1.Key", "aliyun-x"}}).Tags().error(), "Tag.1.Key");
  ExpectInvalid(Of({{"Tag.1.Key", "acs:x"}}).Tags().error(), "Tag.1.Key");
  ExpectInvalid(Of({{"Tag.1.Key", std::string(129, 'k')}}).Tags().error(), "Tag.1.Key");
  EXPECT_TRUE(Of({{"Tag.1.Key", std::string(128, 'k')}}).Tags().ok());
  ExpectInvalid(Of({{"Tag.1.Key", "k"}, {"Tag.1.Value", std::string(129, 'v')}}).Tags().error(),
                "Tag.1.Value");
  ExpectInvalid(Of({{"Tag.1.Key", "k"}, {"Tag.1.Colour", "v"}}).Tags().error(), "Tag.1.Colour");
  auto no_key = Of({{"Tag.1.Value", "v"}}).Tags();
  ASSERT_FALSE(no_key.ok());
  EXPECT_EQ(no_key.error().code, "MissingParameter");
  std::map<std::string, std::string> many;
  for (int i = 1; i <= 21; ++i) many[fmt::format("Tag.{}.Key", i)] = fmt::format("k{}", i);
  EXPECT_FALSE(Of(many).Tags().ok());
  many.erase("Tag.21.Key");
  EXPECT_EQ(Of(many).Tags()->size(), 20u);
}

TEST(ParamsTest, FinishRefusesUnreadButAllowsCommonAndIgnored) {
  auto p = Of({{"Action", "CreateVpc"},
               {"Version", "2016-04-28"},
               {"RegionId", "cn-1"},
               {"OwnerId", "1"},
               {"ClientToken", "t"},
               {"SignatureNonce", "n"},
               {"ResourceGroupId", "rg-1"},
               {"CidrBlock", "10.0.0.0/8"},
               {"VpcNmae", "typo"},
               {"Legacy", "x"},
               {"Extra.1", "y"}});
  ASSERT_TRUE(p.Required("CidrBlock").ok());
  auto finish = p.Finish();
  ASSERT_FALSE(finish.ok());
  ExpectInvalid(finish.error(), "Extra.1");  // the first one, in name order
  p.IgnorePrefix("Extra.");
  finish = p.Finish();
  ASSERT_FALSE(finish.ok());
  ExpectInvalid(finish.error(), "Legacy");
  p.Ignore("Legacy");
  ExpectInvalid(p.Finish().error(), "VpcNmae");
  p.Ignore("VpcNmae");
  EXPECT_TRUE(p.Finish().ok());
}

TEST(ParamsTest, CommonParameters) {
  for (const char* name : {"Action",           "Version",         "Format",
                           "AccessKeyId",      "Signature",       "SignatureMethod",
                           "SignatureVersion", "SignatureNonce",  "SignatureType",
                           "Timestamp",        "RegionId",        "OwnerId",
                           "OwnerAccount",     "ResourceOwnerId", "ResourceOwnerAccount",
                           "ClientToken",      "DryRun",          "SecurityToken",
                           "BearerToken",      "AcceptLanguage",  "ResourceGroupId"}) {
    EXPECT_TRUE(IsCommonParameter(name)) << name;
  }
  EXPECT_FALSE(IsCommonParameter("InstanceId"));
  EXPECT_FALSE(IsCommonParameter("action"));  // names are case-sensitive
}

}  // namespace
}  // namespace tg::api
