"""Start the mtvif_ros fusion node (and optionally rviz2).

    ros2 launch mtvif_ros fusion.launch.py ir_topic:=/thermal/image_raw \
        visible_topic:=/camera/image_raw device:=cuda rviz:=true

Empty ``checkpoint``/``device``/``precision`` arguments leave the value of the params file.
With ``rviz:=true`` and no rviz2 installed, nothing is started and the launch fails with one
line saying so.
"""

from ament_index_python.packages import PackageNotFoundError, get_package_prefix
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "mtvif_ros"

# launch argument -> node parameter it overrides when not empty
PARAM_ARGS = {
    "checkpoint": "model.checkpoint",
    "device": "model.device",
    "precision": "model.precision",
}
# launch argument -> node topic it remaps
TOPIC_ARGS = {"ir_topic": "ir/image", "visible_topic": "visible/image"}

ARGUMENTS = [
    ("ir_topic", "ir/image", "infrared image topic (sensor_msgs/Image)"),
    ("visible_topic", "visible/image", "visible image topic (sensor_msgs/Image)"),
    (
        "params_file",
        PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "fusion.yaml"]),
        "parameters file",
    ),
    ("checkpoint", "", "model checkpoint .pt (empty: params file / packaged default)"),
    ("device", "", "auto | cpu | cuda | cuda:N (empty: params file)"),
    ("precision", "", "fp32 | fp16 | bf16 (empty: params file)"),
    ("namespace", "", "namespace of the node and its topics"),
    ("use_sim_time", "false", "use /clock (bag replay with --clock)"),
    ("lifecycle", "false", "managed node: starts unconfigured, driven by lifecycle transitions"),
    ("rviz", "false", "also start rviz2 with config/fusion.rviz"),
]


def _truthy(value: str) -> bool:
    return value.lower() in ("true", "1", "yes")


def _fusion_node(context):
    """The node (and rviz2 with ``rviz:=true``) with the arguments' values."""

    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    if _truthy(arg("rviz")):
        try:
            get_package_prefix("rviz2")
        except (PackageNotFoundError, OSError):  # OSError: no ament index at all
            raise RuntimeError(
                "rviz:=true but rviz2 is not installed: apt install ros-$ROS_DISTRO-rviz2, "
                "or launch with rviz:=false"
            ) from None

    overrides = {param: arg(a) for a, param in PARAM_ARGS.items() if arg(a)}
    sim_time = _truthy(arg("use_sim_time"))
    overrides["use_sim_time"] = sim_time
    overrides["lifecycle"] = _truthy(arg("lifecycle"))
    # rviz shows the same topics: relative names in its config, the same namespace and remaps
    remappings = [(topic, arg(a)) for a, topic in TOPIC_ARGS.items()]
    actions = [
        Node(
            package=PACKAGE,
            executable="fusion_node",
            name="mtvif_fusion",
            namespace=arg("namespace"),
            parameters=[arg("params_file"), overrides],
            remappings=remappings,
            output="screen",
            emulate_tty=True,
        )
    ]
    if _truthy(arg("rviz")):
        config = PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "fusion.rviz"])
        actions.append(
            Node(
                package="rviz2",
                executable="rviz2",
                namespace=arg("namespace"),
                arguments=["-d", config],
                parameters=[{"use_sim_time": sim_time}],
                remappings=remappings,
                output="screen",
            )
        )
    return actions


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [DeclareLaunchArgument(n, default_value=d, description=t) for n, d, t in ARGUMENTS]
        + [OpaqueFunction(function=_fusion_node)]
    )
